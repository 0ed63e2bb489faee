"""A float32 gradient of values ~1e-27 (as in some vision encoders' LayerNorms at init): finite and non-zero,
but their squares underflow to 0 in float32, so a plain norm is 0.0. Truth: every element is non-zero.
gradviz used to call it zero; suspect norms are now re-checked with the largest |value|: ok."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"w": ("ok", None)}
GRADS = {"w": "nonzero"}


def run(trace):
    w = nn.Parameter(torch.ones(64))
    with trace({"w": w}):
        loss = (w * 1e-27).sum()
        loss.backward()
    return {"w": w}
