"""B3 (claims.md), the ordinary variant: a parameter read through indexing expressions built from tensors that
do not require grad (an index tensor, a boolean mask, a slice). Articles say (vaguely): "indexing breaks the
graph". Truth: it does not; the parameter gets a gradient (rows never indexed get zeros, the rest do not)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"table": ("ok", "*"), "scale": ("ok", "*")}
GRADS = {"table": "nonzero", "scale": "nonzero"}


class Lookup(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(torch.randn(6, 3))
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, idx, mask):
        picked = self.table[idx]
        masked = self.table[mask]
        return picked.sum(0) * self.scale[:3] + masked.sum(0)


def run(trace):
    torch.manual_seed(0)
    model = Lookup()
    idx = torch.tensor([0, 2, 2, 5])
    mask = torch.tensor([True, False, True, False, False, True])
    with trace(model):
        loss = model(idx, mask).pow(2).sum()
        loss.backward()
    return model
