"""Indices computed by a layer and cast with `.long()`, then used to index a parameter table.
Truth: the integer cast has no gradient: the position layer gets None, the table gets gradients, no
exception. gradviz: pos non_differentiable at the `.long()` line, table ok."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "pos.weight": ("non_differentiable", "@long"),
    "pos.bias": ("non_differentiable", "@long"),
    "table": ("ok", "*"),
}
GRADS = {"pos.weight": "none", "pos.bias": "none", "table": "nonzero"}


class Quantized(nn.Module):
    def __init__(self):
        super().__init__()
        self.pos = nn.Linear(4, 1)
        self.table = nn.Parameter(torch.randn(5, 3))

    def forward(self, x):
        idx = (torch.sigmoid(self.pos(x)) * 4).long().squeeze(1)  # @long
        return self.table[idx]


def run(trace):
    torch.manual_seed(0)
    model = Quantized()
    x = torch.randn(8, 4)
    with trace(model):
        loss = model(x).pow(2).mean()
        loss.backward()
    return model
