"""Reentrant activation checkpointing, `checkpoint(self.block, x, use_reentrant=True)`, where the input x does
not require grad (the first block of a model, fed raw data). Truth: the block runs with grad disabled and its
output does not require grad, so the block gets None; the head after it gets gradients; no error. torch 2.13
really warns here (UserWarning "None of the inputs have requires_grad=True. Gradients will be None"), so the
call is wrapped in warnings.catch_warnings() ignoring exactly that message (pytest turns warnings into
errors). gradviz: block checkpoint, where = the checkpoint call line."""

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


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "None of the inputs have requires_grad", UserWarning)
            h = checkpoint(self.block, x, use_reentrant=True)  # @ckpt
        return self.head(torch.tanh(h))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
