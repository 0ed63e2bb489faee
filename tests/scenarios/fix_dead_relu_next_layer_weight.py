"""A ReLU layer killed by a large negative bias, written with nn.Sequential: every unit outputs 0 for every
input. Truth: the first layer's and the next layer's weight gradients are exactly zero (the next layer's
weight multiplies an all-zero input); its bias still learns. gradviz: zero for both weights, both naming the
dead ReLU (the next layer's weight "multiplies that output"), not "values discarded"."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "0.weight": ("zero", "@net"),
    "0.bias": ("zero", "@net"),
    "2.weight": ("zero", "@net"),
    "2.bias": ("ok", "*"),
}
GRADS = {"0.weight": "zero", "0.bias": "zero", "2.weight": "zero", "2.bias": "nonzero"}
MESSAGE = {"2.weight": ["relu", "dead", "multiplies that output"], "0.weight": ["units are dead"]}
AVOID = {"2.weight": ["discarded"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2))
    with torch.no_grad():
        model[0].bias.fill_(-100.0)
    with trace(model):
        loss = model(torch.randn(7, 5)).pow(2).mean()  # @net
        loss.backward()
    return model
