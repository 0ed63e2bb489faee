"""`torch.nn.utils.prune` and the legacy `nn.utils.weight_norm` replace `weight` with a plain tensor attribute
recomputed before every forward from registered parameters (`weight_orig` and its mask; `weight_g` and
`weight_v`). Truth: those parameters get gradients and the recomputed `weight` is not a hidden leaf.
gradviz used to call each `weight` attribute `unregistered`; now every parameter is ok and no false alarm."""

import warnings

import torch
from torch import nn
from torch.nn.utils import prune

RAISES = None
NOTE = []
EXPECT = {
    "pruned.weight_orig": ("ok", None),
    "pruned.bias": ("ok", None),
    "normed.weight_g": ("ok", None),
    "normed.weight_v": ("ok", None),
    "normed.bias": ("ok", None),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.pruned = nn.Linear(4, 8)
        prune.l1_unstructured(self.pruned, "weight", amount=0.3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # weight_norm is deprecated, still in use
            self.normed = nn.utils.weight_norm(nn.Linear(8, 1))

    def forward(self, x):
        return self.normed(torch.tanh(self.pruned(x)))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(6, 4)).pow(2).mean()
        loss.backward()
    return model
