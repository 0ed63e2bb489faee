"""`clip_grad_norm_` called with `max_norm=0.0` (a config value that was meant to switch clipping off):
it multiplies every gradient by 0 in place (`_foreach_mul_`). Truth: every `.grad` is exactly zero after
the step. gradviz: cleared at the clip line, "left zeros in its .grad", with a fix about the clip's
argument. It said "ok" with a norm of 0: only a fixed list of op names (zero_, mul_, fill_) on a .grad
counted as a clear, and clip_grad_norm_ writes with _foreach_mul_."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = dict.fromkeys(("0.weight", "0.bias", "2.weight", "2.bias"), ("cleared", "@clip"))
GRADS = dict.fromkeys(EXPECT, "zero")
MESSAGE = {"0.weight": ["left zeros", "max_norm of 0"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    max_norm = 0.0  # "0 switches clipping off" (it does not)
    with trace(model):
        model(torch.randn(16, 4)).pow(2).mean().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)  # @clip
    return model
