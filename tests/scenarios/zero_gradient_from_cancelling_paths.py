"""A parameter that reaches the loss by two paths whose gradients cancel exactly: `self.a(x) - self.a(x)`
(a refactoring leftover). Truth: a.weight.grad is exactly zero. gradviz: zero, the message saying two paths
cancel."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"a.weight": ("zero", "*"), "b.weight": ("ok", "*")}
GRADS = {"a.weight": "zero", "b.weight": "nonzero"}
MESSAGE = {"a.weight": ["cancel", "2 paths"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 2, bias=False)
        self.b = nn.Linear(3, 2, bias=False)

    def forward(self, x):
        return self.a(x) - self.a(x) + self.b(x)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(4, 3)).pow(2).mean()
        loss.backward()
    return model
