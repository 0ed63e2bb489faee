"""E2 (claims.md): `self.weight = nn.Parameter(torch.randn(h, h))` in `__init__`, used via `torch.matmul`.
Articles say: "not registered". Truth: assigning an nn.Parameter to a Module attribute registers it; it is in
named_parameters() and gets a gradient."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("ok", "*")}
GRADS = {"weight": "nonzero"}


class Net(nn.Module):
    def __init__(self, h=4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(h, h))

    def forward(self, x):
        return torch.matmul(x, self.weight)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(8, 4)
    with trace(model):
        loss = model(x).pow(2).mean()
        loss.backward()
    return model
