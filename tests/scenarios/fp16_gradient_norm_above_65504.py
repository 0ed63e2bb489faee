"""A half-precision parameter whose gradient is finite but whose norm (~1.3e5) is above fp16's largest value
(65504). Truth: every element is finite. gradviz used to compute the norm in fp16 (inf) and call it
nonfinite; norms of half types now accumulate in float32: ok."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"w": ("ok", None)}
GRADS = {"w": "nonzero"}


def run(trace):
    w = nn.Parameter(torch.ones(4096, dtype=torch.float16))
    with trace({"w": w}):
        loss = (w.float() * 2048.0).sum()  # every element of the gradient is 2048: norm 2048 * 64 = 131072
        loss.backward()
    return {"w": w}
