"""A low-rank adapter written functionally with its own names: `down` (random) and `up` (zeros, so the
adapter starts as a no-op), applied with `F.linear` to a frozen base weight. Truth at the first step: `down`
gets an exactly-zero gradient (it flows back through `up`), `up` a non-zero one. gradviz: zero at the adapter
line, by design (up is all zeros and moves at this step), read from the gradients, not from the names."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"down": ("zero", "@adapter"), "up": ("ok", "*"), "base": ("frozen", None)}
GRADS = {"down": "zero", "up": "nonzero", "base": "none"}
MESSAGE = {"down": ["up is all zeros", "by design", "next step", "nothing to fix"]}
AVOID = {"down": ["initialise one of", "non-zero values", "discarded"]}


class Adapted(nn.Module):
    def __init__(self):
        super().__init__()
        self.base = nn.Parameter(torch.randn(8, 8), requires_grad=False)
        self.down = nn.Parameter(torch.randn(2, 8) * 0.1)
        self.up = nn.Parameter(torch.zeros(8, 2))

    def forward(self, x):
        return F.linear(x, self.base) + F.linear(F.linear(x, self.down), self.up)  # @adapter


def run(trace):
    torch.manual_seed(0)
    model = Adapted()
    with trace(model, optimizer=torch.optim.AdamW([model.down, model.up], lr=1e-3)):
        loss = model(torch.randn(4, 8)).pow(2).mean()
        loss.backward()
    return model
