"""The forward raises a plain Python error (a KeyError on a config dict) after the first layer ran. Truth:
KeyError, no gradient anywhere. gradviz used to call every parameter unused; now error at the raising line."""

import torch
from torch import nn

RAISES = KeyError
NOTE = []
EXPECT = {"enc.weight": ("error", "@raise"), "enc.bias": ("error", "@raise")}
GRADS = {"enc.weight": "none", "enc.bias": "none"}
MESSAGE = {"enc.weight": ["KeyError"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 3)
        self.config = {"act": "tanh"}

    def forward(self, x):
        h = self.enc(x)
        scale = self.config["scale"]  # @raise
        return h * scale


def run(trace):
    model = Net()
    with trace(model):
        model(torch.randn(2, 4)).sum().backward()
    return model
