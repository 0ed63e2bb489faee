"""A layer used outside and inside the first of two reentrant checkpoints; the second, later in the forward
(its backward runs first), is clean. The first's inner path makes Inf in its backward (sqrt at 0), into the
layer's weights only (its input's gradient stays finite). Truth: no error, the layer's `.grad` NaN/Inf, the
other layer's finite. gradviz: nonfinite, born in the backward of the first checkpoint. Of the nodes whose
backward runs out of sight it took the latest in the forward (the second), not the one whose backward was
running when the NaN/Inf arrived, and borrowed the line of the parameter's own first out-of-sight cut: the
right line by chance, the birth on the wrong node of the graph (with the fix of the scenario beside it,
nan_born_in_a_later_reentrant_checkpoint_passed_through_an_earlier, the wrong line too). Now each custom
node's backward and each arrival are put on one clock: the NaN/Inf came out of the node running then."""

import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = {
    "shared.weight": ("nonfinite", "@first"),
    "shared.bias": ("nonfinite", "@first"),
    "b.weight": ("ok", "*"),
    "b.bias": ("ok", "*"),
}
GRADS = {"shared.weight": "nonfinite", "shared.bias": "nonfinite", "b.weight": "nonzero", "b.bias": "nonzero"}
MESSAGE = {"shared.weight": ["backward of checkpoint", "out of sight"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def block_a(self, h):
        y = self.shared(h.detach())
        return h + (y - y.detach()).sqrt()  # sqrt(0): its backward makes Inf, into `shared` only

    def block_b(self, h):
        return self.b(h).tanh()

    def forward(self, x):
        h = self.shared(x)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            h = checkpoint(self.block_a, h, use_reentrant=True)  # @first
            return checkpoint(self.block_b, h, use_reentrant=True)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(8, 4, requires_grad=True)
    with trace(model):
        model(x).sum().backward()
    return model
