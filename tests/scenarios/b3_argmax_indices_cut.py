"""B3 (claims.md), the cutting variant: the index into a parameter table is *computed* by `argmax` over a
layer's scores. Truth: the table gets a gradient through the indexing, but the scorer gets none: argmax
returns integer indices, which have no gradient. No exception (the table still connects the loss to the
graph). gradviz: table ok; scorer non_differentiable, where = the argmax line."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "table": ("ok", "*"),
    "scorer.weight": ("non_differentiable", "@argmax"),
    "scorer.bias": ("non_differentiable", "@argmax"),
}
GRADS = {"table": "nonzero", "scorer.weight": "none", "scorer.bias": "none"}


class Router(nn.Module):
    def __init__(self):
        super().__init__()
        self.scorer = nn.Linear(4, 5)
        self.table = nn.Parameter(torch.randn(5, 3))

    def forward(self, x):
        idx = self.scorer(x).argmax(dim=1)  # @argmax
        return self.table[idx]


def run(trace):
    torch.manual_seed(0)
    model = Router()
    x = torch.randn(8, 4)
    with trace(model):
        loss = model(x).pow(2).mean()
        loss.backward()
    return model
