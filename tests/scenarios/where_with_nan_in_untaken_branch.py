"""The classic: `torch.where(x > 0, torch.sqrt(x), 0)` for a safe square root. The forward is finite (where
picks 0 where x <= 0), but sqrt of the negative entries is NaN, and where's backward sends a zero gradient
to that branch: 0 * NaN = NaN. Truth: NaN gradients. gradviz: nonfinite at the sqrt line; the message names
torch.where and the fix is the double-where pattern."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("nonfinite", "@sqrt"), "bias": ("nonfinite", "@sqrt")}
GRADS = {"weight": "nonfinite", "bias": "nonfinite"}
MESSAGE = {"weight": ["where", "double-where"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(3, 4)
    with trace(model):
        h = model(torch.randn(6, 3))
        r = torch.sqrt(h)  # @sqrt
        safe = torch.where(h > 0, r, torch.zeros_like(h))
        loss = safe.sum()
        loss.backward()
    return model
