"""Found by the fuzzer (seed 2026, program 2253). The square root of a negative number, written ** 0.5, is
NaN in the forward; the values go through a numpy copy and come back as a new tensor that scales a
parameter. The copy breaks autograd's link, not the NaN's: gradviz says the scale's gradient is NaN, born
in the forward of pow at its line — not "the input of mul already held NaN"."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"scale": ("nonfinite", "@pow")}
GRADS = {"scale": "nonfinite"}
MESSAGE = {"scale": ["forward of pow"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.rand(4) + 0.5)

    def forward(self, x):
        h = (x.tanh() - 1.5) ** 0.5  # @pow
        h = torch.from_numpy(torch.nn.functional.gelu(h).numpy().copy())
        return h * self.scale


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(3, 4)
    with trace(model):
        loss = model(x).pow(2).mean()
        loss.backward()
    return model
