"""C1 (claims.md): `model.weight.requires_grad = False` on an nn.Linear. Articles say: weight grad None.
Truth: true, and the bias still gets a gradient. gradviz: weight frozen (set before the trace, so no traced
line explains it: where is None), bias ok."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "weight": ("frozen", None),
    "bias": ("ok", "*"),
}
GRADS = {"weight": "none", "bias": "nonzero"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(10, 1)
    model.weight.requires_grad = False
    x, y = torch.randn(8, 10), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
