"""A tensor hook on a weight that decays it in place as its gradient arrives (`w.register_hook`,
`w.mul_(0.99)` under no_grad), on a layer used twice plainly and once inside a reentrant `checkpoint` of a
helper function: the checkpoint's inner backward runs the hook while the outer graph still holds the weight
(saved by the second use, whose input needs a gradient).
Truth: backward raises RuntimeError "... modified by an inplace operation ..."; `.grad` holds what the inner
backward accumulated before. gradviz: error at the `mul_` in the hook (the write torch blames; NOTE
[writes during a backward]), not the `loss.backward()` line; the gradient is said not to be whole."""

import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = RuntimeError
NOTE = [("in-place", "inplace"), "@decay"]
# the checkpointed use's gradient was accumulated by the inner backward before the outer one raised: .grad
# holds it (a partial gradient, as torch leaves it), and the error is why the rest is missing
EXPECT = {"weight": ("error", "@decay"), "bias": ("error", "@decay")}
GRADS = {"weight": "nonzero", "bias": "nonzero"}
PARTIAL = ["weight", "bias"]
MESSAGE = {"weight": ["not get its whole gradient"]}


def decay(weight):
    def hook(grad):
        with torch.no_grad():
            weight.mul_(0.99)  # @decay
        return grad

    return hook


def block(h, layer):
    return torch.tanh(layer(h))


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 4)
    model.weight.register_hook(decay(model.weight))
    x = torch.randn(3, 4)
    with trace(model):
        h = torch.tanh(model(torch.tanh(model(x))))  # the second use saves the weight
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            y = checkpoint(block, h, model, use_reentrant=True)
        loss = y.pow(2).sum()
        loss.backward()
    return model
