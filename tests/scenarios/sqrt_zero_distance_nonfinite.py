"""Pairwise Euclidean distances written as `torch.sqrt(((e[:, None] - e[None]) ** 2).sum(-1))`: the diagonal
is exactly 0, and d sqrt(u)/du = 1/(2 sqrt(u)) is inf there (then 0 * inf = NaN through the square).
Truth: no error, the forward values are finite, but the layer's gradients contain NaN. gradviz: nonfinite,
where = that line (the first backward node producing a non-finite value is sqrt's, on this line)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("nonfinite", "@nan"), "bias": ("nonfinite", "@nan")}
GRADS = {"weight": "nonfinite", "bias": "nonfinite"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x = torch.randn(5, 4)
    with trace(model):
        e = model(x)
        dist = torch.sqrt(((e[:, None] - e[None]) ** 2).sum(-1))  # @nan
        loss = dist.mean()
        loss.backward()
    return model
