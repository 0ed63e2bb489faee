"""Found by the differential fuzzer (seeds 88310 and 2941): a reentrant `checkpoint` whose input needs no
gradient (raw data) cuts its block off, and a second reentrant checkpoint later, whose input does, gets a
node. Truth: the first block gets no gradient; everything after it does. gradviz: checkpoint at the first
call. Before, the second checkpoint's node was read as proof that every checkpoint cut the value carried was
not real, and the first block was called unused: now only the cuts made inside a Function whose node is on
the value's gradient path are taken back."""

import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = {
    "first.weight": ("checkpoint", "@first"),
    "first.bias": ("checkpoint", "@first"),
    "mid.weight": ("ok", "*"),
    "mid.bias": ("ok", "*"),
    "last.weight": ("ok", "*"),
    "last.bias": ("ok", "*"),
}
GRADS = {name: ("none" if name.startswith("first") else "nonzero") for name in EXPECT}


def last_block(h, layer):
    return torch.tanh(layer(h))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.mid = nn.Linear(4, 4)
        self.last = nn.Linear(4, 4)

    def forward(self, x):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "None of the inputs have requires_grad", UserWarning)
            h = checkpoint(self.first, x, use_reentrant=True)  # @first
        h = self.mid(h)
        return h + checkpoint(last_block, h, self.last, use_reentrant=True)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = F.mse_loss(model(torch.randn(3, 4)), torch.ones(3, 4))
        loss.backward()
    return model
