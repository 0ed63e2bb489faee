"""A `torch.jit.script`ed block inside an ordinary model, trained normally. Truth: every parameter gets a
gradient. gradviz: all ok (its outputs carry the block's parameters even though the ops inside it are not
seen)."""

import warnings

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"block.0.weight": ("ok", "*"), "block.0.bias": ("ok", "*"), "head.weight": ("ok", "*")}
GRADS = dict.fromkeys(EXPECT, "nonzero")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; models still use it
            warnings.simplefilter("ignore", DeprecationWarning)
            self.block = torch.jit.script(nn.Sequential(nn.Linear(4, 8), nn.Tanh()))
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.block(x))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(3, 4)).pow(2).mean()
        loss.backward()
    return model
