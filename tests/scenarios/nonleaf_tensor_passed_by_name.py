"""A non-leaf tensor passed to trace by name (`trace({"h": h, "w": w})`), with `h.retain_grad()`. Truth: h
receives a gradient. gradviz used to call it unused (only leaves were matched in the graph); now ok."""

import torch

RAISES = None
NOTE = []
EXPECT = {"h": ("ok", None), "w": ("ok", None)}
GRADS = {"h": "nonzero", "w": "nonzero"}


def run(trace):
    torch.manual_seed(0)
    w = torch.randn(3, requires_grad=True)
    h = w * 2.0
    h.retain_grad()
    tensors = {"h": h, "w": w}
    with trace(tensors):
        loss = (h**2).sum()
        loss.backward()
    return tensors
