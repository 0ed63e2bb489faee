"""The same checkpointed block with `use_reentrant=False`, input not requiring grad. Truth: no warning, no
error, every parameter gets a gradient. gradviz: all ok (the recomputation during backward must not confuse
it)."""

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = {
    "block.weight": ("ok", "*"),
    "block.bias": ("ok", "*"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        h = checkpoint(self.block, x, use_reentrant=False)
        return self.head(torch.tanh(h))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
