"""A module full backward hook that decays the layer's weight in place (`register_full_backward_hook`,
`weight.mul_` under no_grad), on a layer applied twice. The hook runs when the second application's
backward is done; the first still holds the weight (saved for the gradient of its input). Truth: backward
raises RuntimeError "... modified by an inplace operation ..."; no gradient reaches `.grad`. gradviz: error
at the `mul_` in the hook (NOTE [writes during a backward]: a module's backward hooks are wrapped for the
trace). It said "an op gradviz did not see" at the `backward()` line: the tracer sees nothing a backward
runs."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = [("in-place", "inplace"), "@write"]
EXPECT = {"l.weight": ("error", "@write"), "l.bias": ("error", "@write")}
GRADS = {"l.weight": "none", "l.bias": "none"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 4)

    def forward(self, x):
        return self.l(torch.tanh(self.l(x)))


def decay(module, grad_input, grad_output):
    with torch.no_grad():
        module.weight.mul_(0.99)  # @write


def run(trace):
    torch.manual_seed(0)
    model = Net()
    model.l.register_full_backward_hook(decay)
    x = torch.randn(3, 4, requires_grad=True)
    with trace(model):
        model(x).sum().backward()
    return model
