"""Two reentrant checkpoints; the later one in the forward (its backward runs first) makes Inf in its
backward (sqrt at 0) and passes it on, through its input, into the earlier one's backward and the layer
before. Truth: every `.grad` non-finite. gradviz: nonfinite for all, born in the backward of the later
checkpoint. It named the earlier checkpoint's line for the layer inside it: the birth at the later node
took its line from the first out-of-sight cut of the parameter asked about, not from the node's own call
(now each cut a Function or checkpoint makes records the node it belongs to)."""

import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = dict.fromkeys(("shared.weight", "shared.bias", "b.weight", "b.bias"), ("nonfinite", "@later"))
GRADS = dict.fromkeys(EXPECT, "nonfinite")
MESSAGE = {"b.weight": ["backward of checkpoint", "out of sight"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def block_a(self, h):
        y = self.shared(h)
        return (y - y.detach()).sqrt() + y  # sqrt(0): its backward makes Inf

    def block_b(self, h):
        return self.b(h).tanh()

    def forward(self, x):
        h = self.shared(x)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            h = checkpoint(self.block_b, h, use_reentrant=True)
            return checkpoint(self.block_a, h, use_reentrant=True)  # @later


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(8, 4, requires_grad=True)
    with trace(model):
        model(x).sum().backward()
    return model
