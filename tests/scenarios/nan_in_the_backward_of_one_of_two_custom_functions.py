"""Two custom autograd Functions in a row: the first passes its gradient on, the second's backward makes
Inf. Truth: every `.grad` non-finite. gradviz: nonfinite, born in the backward of the second Function, at
the user's `apply()` of it. It named the second Function at the first one's forward line (the first
out-of-sight cut of the parameter asked about), then at a line inside the second's forward; the birth's
line is now the node's own call (NOTE [follow the non-finite edges]; the apply line each Function's node
records)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = dict.fromkeys(("a.weight", "a.bias", "b.weight", "b.bias"), ("nonfinite", "@spike"))
GRADS = dict.fromkeys(EXPECT, "nonfinite")
MESSAGE = {"a.weight": ["backward of spike", "out of sight"]}


class Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t):
        return t * 1.0

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")


class Pass(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t):
        return t * 1.0

    @staticmethod
    def backward(ctx, grad):
        return grad * 1.0


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x):
        h = Pass.apply(self.a(x))
        return Spike.apply(self.b(h))  # @spike


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        model(torch.randn(3, 4)).sum().backward()
    return model
