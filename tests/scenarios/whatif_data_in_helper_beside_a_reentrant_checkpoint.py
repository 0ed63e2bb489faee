"""Found by the differential fuzzer (seed 90210, program 584): a layer used twice, once inside a reentrant
`checkpoint` (its input needs a gradient, so it learns through it) and once in a helper that takes `.data`
of its output; a bare parameter after that is cut by a second `.data`. Truth: the layer learns (through the
checkpoint), the parameter gets nothing. gradviz: the parameter cut by `.data` at its line; and without the
helper's `.data`, the layer is still reached (it is already). The layer's accumulator is not in the graph
walked before the backward (a reentrant checkpoint makes its inner graph during the backward): a gradient
that arrives there now counts as reached; the what-if said "still not reached" before."""

import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = {
    "u0.weight": ("ok", "*"),
    "u0.bias": ("ok", "*"),
    "u1.weight": ("ok", "*"),
    "u1.bias": ("ok", "*"),
    "u2": ("data", "@cut"),
}
GRADS = {name: ("none" if name == "u2" else "nonzero") for name in EXPECT}


def block(h, layer):
    h = layer(h)
    h = h.data
    return torch.tanh(h)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u0 = nn.LayerNorm(4)
        self.u1 = nn.Linear(4, 4)
        self.u2 = nn.Parameter(torch.rand(4) + 0.5)

    def forward(self, x):
        h1 = self.u0(x)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            h2 = checkpoint(self.u1, h1, use_reentrant=True)
        h = block(x, self.u1) * self.u2
        return h2 + h.data  # @cut


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        model(torch.randn(3, 4)).pow(2).mean().backward()
    return model
