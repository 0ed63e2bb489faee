"""A reentrant `checkpoint` fed raw data cuts its block off; later, a custom `autograd.Function` (whose
forward runs with gradients off, and whose output then gets its node) takes the value on. Truth: the
checkpointed block gets no gradient; the layer after the Function does. gradviz: checkpoint at its call;
the Function's node takes back only the cuts its own forward made, not the checkpoint's."""

import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = {
    "block.weight": ("checkpoint", "@ckpt"),
    "block.bias": ("checkpoint", "@ckpt"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("none" if name.startswith("block") else "nonzero") for name in EXPECT}


class Scale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w.sum()

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g * w.sum(), (g * x).sum() * torch.ones_like(w)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Linear(4, 4)
        self.head = nn.Linear(4, 4)

    def forward(self, x):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "None of the inputs have requires_grad", UserWarning)
            h = checkpoint(self.block, x, use_reentrant=True)  # @ckpt
        return Scale.apply(h, self.head.weight) + self.head.bias


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        model(torch.randn(3, 4)).pow(2).sum().backward()
    return model
