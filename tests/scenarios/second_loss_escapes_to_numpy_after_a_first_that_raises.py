"""Found by the differential fuzzer (seed 11086, program 1249): two losses, each computed from a value that
went through NumPy (`.detach().numpy()`, back with `from_numpy`); the first depends on no parameter at all.
The first `backward()` raises ("element 0 of tensors does not require grad"), so the second never runs.
Truth: RuntimeError; the layer gets no gradient. gradviz: error at the first backward, and the note says the
loss depends on nothing that requires grad. It said the first loss's value "left torch through .numpy()"
at the second loss's NumPy line (and, from that, escaped for the layer): the first loss, coming back from
NumPy with the same shape, was taken for the second's escape, because an escape of values no parameter
shaped was not kept as a candidate before one a parameter shaped had left."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = ["does not depend on any tensor that requires grad", "@raise"]
EXPECT = {"u0.weight": ("error", "@raise"), "u0.bias": ("error", "@raise")}
GRADS = {"u0.weight": "none", "u0.bias": "none"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u0 = nn.Linear(4, 4)

    def forward(self, x):
        a = torch.from_numpy(torch.tanh(x).detach().numpy().copy())
        b = torch.from_numpy(self.u0(x).detach().numpy().copy())
        return a, b


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        a, b = model(torch.randn(3, 4))
        a.abs().sum().backward(retain_graph=True)  # @raise
        b.abs().sum().backward()
    return model
