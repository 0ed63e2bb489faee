"""Found by the differential fuzzer (seed 12345, program 2617): a `.detach()` in a helper cuts the first
layer; the model's output comes straight out of a reentrant `checkpoint`. Truth: `u0` gets no gradient;
with the `.detach()` removed it does. gradviz: detach at the helper's line, and the what-if of that cut says
`u0` would be reached. It said "still not reached (another cut ... gradviz cannot undo)": reading the model's
output as a root took back the checkpoint's in-forward cut and, with it, dropped what the output would carry
without the `.detach()`."""

import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = {"u0.weight": ("detach", "@cut"), "u0.bias": ("detach", "@cut")}
GRADS = {"u0.weight": "none", "u0.bias": "none", "u1.weight": "nonzero", "u1.bias": "nonzero"}


def block(h, layer):
    h = layer(h).detach()  # @cut
    return torch.tanh(h)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u0 = nn.Linear(4, 4)
        self.u1 = nn.Linear(4, 4)

    def forward(self, x):
        h = self.u1(block(x, self.u0))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            return checkpoint(self.u1, h, use_reentrant=True)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        model(torch.randn(3, 4)).abs().sum().backward()
    return model
