"""A quantiser helper `quantise(x, step) = torch.floor(x / step) * step` between two layers, no
straight-through: floor's gradient is zero. Truth: the encoder's gradients are zero. gradviz: zero at the
helper's line, with a straight-through for floor (`x + (torch.floor(x) - x).detach()`)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "enc.weight": ("zero", "@floor"),
    "enc.bias": ("zero", "@floor"),
    "dec.weight": ("ok", "*"),
    "dec.bias": ("ok", "*"),
}
GRADS = {"enc.weight": "zero", "enc.bias": "zero", "dec.weight": "nonzero", "dec.bias": "nonzero"}
MESSAGE = {"enc.weight": ["`y = x + (torch.floor(x) - x).detach()`"]}
AVOID = {"enc.weight": ["x.round()"]}


def quantise(x, step=0.25):
    return torch.floor(x / step) * step  # @floor


def run(trace):
    torch.manual_seed(0)
    model = nn.ModuleDict({"enc": nn.Linear(4, 4), "dec": nn.Linear(4, 4)})
    x = torch.randn(6, 4)
    with trace(model):
        loss = (model["dec"](quantise(model["enc"](x))) - x).pow(2).mean()
        loss.backward()
    return model
