"""Two values of one shape leave torch through NumPy and come back changed (np.tanh): a value no parameter
shaped, then the layer's. The first loss is computed from the first only; it has no grad_fn, and its
backward raises. Values changed in NumPy cannot be told apart by gradviz (the tracer does not see NumPy):
the tensor that came back could hold either. gradviz said, as a fact, that the loss's value "left torch
through .numpy()" at the layer's line. Now the note says what is known: the layer's value left there, and
what came back may hold it or the values that left at the other line. The layer's verdict says the same
(escaped at its line: its value did leave torch there; whether it came back into the loss that raised is
what NumPy hides).
Truth: RuntimeError; the layer gets no gradient."""

import numpy as np
import torch
from torch import nn

RAISES = RuntimeError  # element 0 of tensors does not require grad and does not have a grad_fn
NOTE = ["it may hold these values, or those that left torch", "@first_out", "@layer_out"]
EXPECT = {"u0.weight": ("escaped", "@layer_out"), "u0.bias": ("escaped", "@layer_out")}
GRADS = {"u0.weight": "none", "u0.bias": "none"}
MESSAGE = {name: ["it may hold these values, or those that left torch"] for name in EXPECT}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u0 = nn.Linear(4, 4)

    def forward(self, x):
        first = torch.tanh(x).numpy()  # @first_out
        layer = self.u0(x).detach().numpy()  # @layer_out
        return torch.from_numpy(np.tanh(first)), torch.from_numpy(np.tanh(layer))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        a, b = model(torch.randn(3, 4))
        a.abs().sum().backward(retain_graph=True)
        b.abs().sum().backward()
    return model
