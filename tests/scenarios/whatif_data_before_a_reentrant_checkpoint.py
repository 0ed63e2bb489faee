"""A helper returns ``.data`` of a layer's output, and the next block is a reentrant checkpoint
(``use_reentrant=True``). Truth: no input of the checkpoint requires grad, so neither the layer before it
nor the block inside it gets a gradient. gradviz: the layer at the .data, the block at the checkpoint.
Without the .data the checkpoint is no cut at all (it attaches a gradient once an input has one): both
would be reached. Found by the fuzzer's what-if stage (seed 11, program 1867). torch warns "None of the
inputs have requires_grad=True" at the checkpoint: that one warning is ignored (pytest makes warnings
errors)."""

import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = {
    "u1.weight": ("data", "@data"),
    "u1.bias": ("data", "@data"),
    "u2.weight": ("checkpoint", "@ckpt"),
    "u2.bias": ("checkpoint", "@ckpt"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("nonzero" if name.startswith("head") else "none") for name in EXPECT}


def block(h, layer):
    h = layer(h)
    h = h.data  # @data
    return torch.tanh(h)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u1 = nn.Linear(4, 4)
        self.u2 = nn.Linear(4, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        h = block(x, self.u1)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "None of the inputs have requires_grad", UserWarning)
            h = checkpoint(self.u2, h, use_reentrant=True)  # @ckpt
        return self.head(torch.tanh(h))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(3, 4)
    with trace(model):
        model(x).abs().sum().backward()
    return model
