"""The class of fuzzer seed 12345, program 157, in another spelling: a layer used outside and inside a
reentrant `checkpoint`, whose inner path runs through a custom Function with a backward that returns Inf; the
optimizer is stepped from `register_post_accumulate_grad_hook` at each of the two arrivals. Truth: no error,
a finite loss; `.grad` is None afterwards; one of the arrivals was Inf/NaN. gradviz: nonfinite (it said "ok":
with two arrivals it read the state from `.grad`, which the hook had taken), born in the checkpoint's
backward, whose inside is out of sight (it blamed the layer's use outside the checkpoint: its node showed
the sum of both arrivals, not the one that came through it)."""

import math
import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = {"l.weight": ("nonfinite", "@ckpt"), "l.bias": ("nonfinite", "@ckpt")}
GRADS = dict.fromkeys(EXPECT, "none")
CONSUMED = list(EXPECT)
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
    opts = {p: torch.optim.SGD([p], lr=0.1) for p in model.parameters()}

    def train_in_backward(p):
        before = getattr(p, "consumed_norm", 0.0)  # the worst of what arrived: a non-finite norm stays
        p.consumed_norm = float(p.grad.norm()) if math.isfinite(before) else before
        opts[p].step()
        p.grad = None

    for p in opts:
        p.register_post_accumulate_grad_hook(train_in_backward)
    x = torch.randn(3, 4, requires_grad=True)
    with trace(model):
        loss = model(x).pow(2).mean()
        loss.backward()
    return model
