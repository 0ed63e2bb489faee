"""After backward, the weight's `.grad` is replaced by a tensor of zeros (`p.grad = torch.zeros_like(p)`,
a "freeze" written by hand). Truth: `.grad` is exactly zero; the bias learns. gradviz: cleared at the
assignment. It said "ok" with a norm of 0: only an assignment of None counted."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("cleared", "@replace")}
GRADS = {"weight": "zero", "bias": "nonzero"}
MESSAGE = {"weight": ["left zeros"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 4)
    with trace(model):
        model(torch.randn(3, 4)).pow(2).mean().backward()
        model.weight.grad = torch.zeros_like(model.weight)  # @replace
    return model
