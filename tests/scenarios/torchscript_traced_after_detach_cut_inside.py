"""A `.detach()` before a `torch.jit.trace`d block that itself detaches its input first (`h.detach()` inside
the traced function: invisible to the tracer). Truth: the layer before the outer detach gets no gradient, and
removing the outer detach alone would not change that (the inner one cuts too); the block's layers learn.
gradviz: detach at the outer line; without it, still not reached, because of a cut inside the block (its
graph shows the inner detach), never "would be reached"."""

import warnings

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "pre.weight": ("detach", "@cut"),
    "pre.bias": ("detach", "@cut"),
    "block.a.weight": ("ok", "*"),
    "block.a.bias": ("ok", "*"),
    "block.b.weight": ("ok", "*"),
    "block.b.bias": ("ok", "*"),
}
GRADS = {name: ("nonzero" if name.startswith("block") else "none") for name in EXPECT}


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, h):
        return self.b(torch.relu(self.a(h.detach())))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.pre = nn.Linear(4, 4)
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; models still use it
            warnings.simplefilter("ignore")
            self.block = torch.jit.trace(Block(), torch.randn(2, 4))

    def forward(self, x):
        h = self.pre(x).detach()  # @cut
        return self.block(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(3, 4)).pow(2).mean()
        loss.backward()
    return model
