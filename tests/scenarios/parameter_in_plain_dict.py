"""Parameters kept in a plain Python dict on the module: `self.scales = {"a": nn.Parameter(...)}`. Truth: they
get gradients, but model.parameters() (so the optimizer) never sees them. gradviz: unregistered, and the fix
names nn.ParameterDict (not ModuleDict: these are tensors, not modules)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"scales.a": ("unregistered", None), "lin.weight": ("ok", "*"), "lin.bias": ("ok", "*")}
GRADS = {"scales.a": "nonzero", "lin.weight": "nonzero", "lin.bias": "nonzero"}
MESSAGE = {"scales.a": ["nn.ParameterDict"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.scales = {"a": nn.Parameter(torch.ones(3))}

    def forward(self, x):
        return self.lin(x) * self.scales["a"]


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(5, 4)).pow(2).mean()
        loss.backward()
    return model
