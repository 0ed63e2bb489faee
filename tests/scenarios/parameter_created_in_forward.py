"""A parameter assigned in forward(): `self.gate = nn.Parameter(torch.ones(8))` runs on every call, so each
step trains a brand-new tensor that the optimizer (built before) never holds. Truth: `.grad` of the new
`gate` is non-zero, yet it never changes what the model learns. gradviz used to give it no verdict at all;
now not_in_optimizer at the assignment line, saying it is made anew on every call."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"gate": ("not_in_optimizer", "@make"), "lin.weight": ("ok", "*"), "lin.bias": ("ok", "*")}
GRADS = {"gate": "nonzero", "lin.weight": "nonzero", "lin.bias": "nonzero"}
MESSAGE = {"gate": ["every call"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 8)
        self.gate = nn.Parameter(torch.ones(8))

    def forward(self, x):
        self.gate = nn.Parameter(torch.ones(8))  # @make
        return self.lin(x) * self.gate


def run(trace):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with trace(model, optimizer=opt):
        loss = model(torch.randn(5, 4)).pow(2).mean()
        loss.backward()
    return model
