"""Gradient accumulation in half precision: three backwards on a float16 layer, each loss scaled by 10000.
Each backward's gradient is finite (the bias gets 3 x 10000 = 30000 < 65504), but their sum in `.grad`
is not (90000 overflows float16). Truth: `.grad` is Inf. gradviz: nonfinite, no line (no op made it: the
accumulation did), and the fix scales the losses or keeps gradients in float32. It said "ok" with a norm
of inf: every arrival was finite."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("nonfinite", None), "bias": ("nonfinite", None)}
GRADS = dict.fromkeys(EXPECT, "nonfinite")
MESSAGE = {"bias": ["3 backward passes", "overflowed"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 4).half()
    x = torch.randn(3, 4).half()
    with trace(model):
        for _ in range(3):
            loss = model(x).float().sum() * 10000
            loss.backward()
    return model
