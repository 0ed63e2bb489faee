"""An auxiliary head whose output a later op throws away: `aux(h)[:, :0]` (an empty slice left after a change
of the number of classes) is added to the loss. Truth: aux.weight.grad is exactly zero. gradviz: zero at the
slicing line, the message saying the values are discarded there."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"aux.weight": ("zero", "@slice"), "aux.bias": ("zero", "@slice"), "head.weight": ("ok", "*")}
GRADS = {"aux.weight": "zero", "aux.bias": "zero", "head.weight": "nonzero"}
MESSAGE = {"aux.weight": ["discarded"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3, 1, bias=False)
        self.aux = nn.Linear(3, 4)

    def forward(self, x):
        return self.head(x).sum() + self.aux(x)[:, :0].sum()  # @slice


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(4, 3))
        loss.backward()
    return model
