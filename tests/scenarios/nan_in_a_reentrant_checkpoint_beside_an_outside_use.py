"""A layer used outside and inside a reentrant `checkpoint`, whose inner path runs through a custom Function
with a backward that returns Inf; plain accumulation into `.grad`. Truth: no error, a finite loss, `.grad`
NaN (the sum of a finite arrival from the outside use and a non-finite one from the checkpoint's own
backward). gradviz: nonfinite, born in the checkpoint's backward, whose inside is out of sight. It blamed
the layer's use outside the checkpoint: the node of the parameter showed the sum of both arrivals, not the
one that came through the graph walked (the other came in the graph task the checkpoint runs)."""

import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = {"l.weight": ("nonfinite", "@ckpt"), "l.bias": ("nonfinite", "@ckpt")}
GRADS = dict.fromkeys(EXPECT, "nonfinite")
MESSAGE = {"l.weight": ["backward of checkpoint", "out of sight"]}


class Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t):
        return t * 1.0

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 4)

    def inner(self, t):
        return Spike.apply(self.l(t))

    def forward(self, x):
        outside = self.l(x.detach())
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            inside = checkpoint(self.inner, x, use_reentrant=True)  # @ckpt
        return outside + inside


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(3, 4, requires_grad=True)
    with trace(model):
        loss = model(x).pow(2).mean()
        loss.backward()
    return model
