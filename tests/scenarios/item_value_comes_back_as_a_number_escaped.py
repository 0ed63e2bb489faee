"""A value taken out with `.item()` comes back into the loss as a Python number: `loss = (out * s)`. Truth:
the head that produced `s` gets no gradient (a number carries no graph). gradviz: escaped at the `.item()`
line — the number that came back is the very one `.item()` returned."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"gate.weight": ("escaped", "@item"), "gate.bias": ("escaped", "@item")}
GRADS = {"gate.weight": "none", "gate.bias": "none"}


def run(trace):
    torch.manual_seed(0)
    model = nn.ModuleDict({"body": nn.Linear(4, 8), "gate": nn.Linear(8, 1), "head": nn.Linear(8, 1)})
    x = torch.randn(5, 4)
    with trace(model):
        h = model["body"](x).relu()
        s = torch.sigmoid(model["gate"](h)).mean().item()  # @item
        loss = (model["head"](h) * s).pow(2).mean()
        loss.backward()
    return model
