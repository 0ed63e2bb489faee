"""trace() with no model adopts the leaves the forward uses, named by their variables; here two different
tensors are both called `w` (one in a helper's frame). Truth: both get gradients. gradviz used to keep one
verdict and drop the other; now both are named uniquely ("w" and "w#2")."""

import torch

RAISES = None
NOTE = []
EXPECT = {"w": ("ok", None), "w#2": ("ok", None)}
GRADS = {"w": "nonzero", "w#2": "nonzero"}


def branch():
    w = torch.full((3,), 2.0, requires_grad=True)
    branch.w = w
    return w.sin()


def run(trace):
    w = torch.ones(3, requires_grad=True)
    with trace():
        loss = (w.cos() * branch()).sum()
        loss.backward()
    return {"w": w, "w#2": branch.w}
