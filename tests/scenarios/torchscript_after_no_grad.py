"""Found by the differential fuzzer (seed 7391, program 810): a `with torch.no_grad():` block (a layer and a
bare parameter), then a `torch.jit.script`ed block. Truth: the parameters under no_grad get no gradient; the
scripted block's layer does. gradviz: gradients off at the `with` line; and without it, everything before
would be reached through the scripted block (its graph passes its input's gradient on)."""

import warnings

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "u0.weight": ("no_grad", "@nograd"),
    "u0.bias": ("no_grad", "@nograd"),
    "u1": ("no_grad", "@nograd"),
    "u2.lin.weight": ("ok", "*"),
    "u2.lin.bias": ("ok", "*"),
}
GRADS = {name: ("nonzero" if name.startswith("u2") else "none") for name in EXPECT}


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
        self.u1 = nn.Parameter(torch.randn(4, 4) * 0.5)
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; models still use it
            warnings.simplefilter("ignore", DeprecationWarning)
            self.u2 = torch.jit.script(Block())

    def forward(self, x):
        with torch.no_grad():  # @nograd
            h = self.u0(x) @ self.u1
        return self.u2(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(3, 4)).abs().sum()
        loss.backward()
    return model
