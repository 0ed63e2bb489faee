"""Found by the differential fuzzer (seed 48213, program 1024): `.data` in the forward, then a
`torch.jit.script`ed block. Truth: the layer before `.data` gets no gradient; the scripted block's own layer
does. gradviz: `.data` at its line; and without it (`Trace.without`), the layer before would be reached,
through the scripted block whose inside the tracer never sees: the block's graph says its output depends on
its input (NOTE [gradient paths through TorchScript]). It said "another cut on its path" before."""

import warnings

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "u0.weight": ("data", "@cut"),
    "u0.bias": ("data", "@cut"),
    "u1.lin.weight": ("ok", "*"),
    "u1.lin.bias": ("ok", "*"),
}
GRADS = {"u0.weight": "none", "u0.bias": "none", "u1.lin.weight": "nonzero", "u1.lin.bias": "nonzero"}


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, h):
        return torch.tanh(self.lin(h))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u0 = nn.Linear(4, 4)
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; models still use it
            warnings.simplefilter("ignore", DeprecationWarning)
            self.u1 = torch.jit.script(Block())

    def forward(self, x):
        h = self.u0(x).data  # @cut
        return self.u1(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(3, 4)).pow(2).mean()
        loss.backward()
    return model
