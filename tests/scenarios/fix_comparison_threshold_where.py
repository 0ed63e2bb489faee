"""A learned threshold gate written with `torch.where(score > 0, h, 0)`: the score enters only through the
comparison. Truth: the scorer gets no gradient. gradviz: non_differentiable at the comparison, with the fix
for a comparison (a soft mask with a temperature, or a straight-through of the hard mask)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "scorer.weight": ("non_differentiable", "@gate"),
    "scorer.bias": ("non_differentiable", "@gate"),
    "body.weight": ("ok", "*"),
    "body.bias": ("ok", "*"),
}
GRADS = {name: "none" if name.startswith("scorer") else "nonzero" for name in EXPECT}
MESSAGE = {"scorer.weight": ["`torch.sigmoid((x - threshold) / temperature)`", "straight-through"]}
AVOID = {"scorer.weight": ["argmax"]}


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.scorer, self.body = nn.Linear(4, 1), nn.Linear(4, 4)

    def forward(self, x):
        return torch.where(self.scorer(x) > 0, self.body(x), 0.0)  # @gate


def run(trace):
    torch.manual_seed(0)
    model = Gated()
    with trace(model):
        loss = model(torch.randn(6, 4)).pow(2).mean()
        loss.backward()
    return model
