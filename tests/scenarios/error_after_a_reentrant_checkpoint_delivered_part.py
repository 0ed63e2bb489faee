"""A layer used twice: at the input, and again inside a reentrant `checkpoint` at the end. Between them an
in-place op changes a tensor `sigmoid` saved for backward. Backward runs the checkpoint first (its own
backward delivers the inner use's gradient to `a`), then raises at sigmoid's backward: `a.grad` holds part of
its gradient, `b` gets none. Truth: RuntimeError; `a.grad` finite, `b.grad` None. gradviz: error for all four
at the in-place line; for `a` it says the gradient is not whole (it said "ok", from the part in `.grad`)."""

import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = RuntimeError
NOTE = [("in-place", "inplace"), "@inplace"]
EXPECT = {
    "a.weight": ("error", "@inplace"),
    "a.bias": ("error", "@inplace"),
    "b.weight": ("error", "@inplace"),
    "b.bias": ("error", "@inplace"),
}
GRADS = {"a.weight": "nonzero", "a.bias": "nonzero", "b.weight": "none", "b.bias": "none"}
PARTIAL = ["a.weight", "a.bias"]
MESSAGE = {"a.weight": ["not get its whole gradient"], "b.weight": ["got no gradient"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x):
        y = torch.sigmoid(self.b(self.a(x)))
        z = y * 2
        y.mul_(0.5)  # @inplace
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            return checkpoint(self.a, z, use_reentrant=True)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        model(torch.randn(3, 4)).sum().backward()
    return model
