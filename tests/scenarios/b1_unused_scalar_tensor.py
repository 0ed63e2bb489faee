"""B1 (claims.md): scalars a, b, c all require grad; `loss = (a * b) ** 2`. Articles say: `c.grad` is None.
Truth: true, c never takes part in the loss. gradviz, given the plain tensors as a dict: a and b ok,
c unused (no line explains an absence, so where is None)."""

import torch

RAISES = None
NOTE = []
EXPECT = {
    "a": ("ok", "*"),
    "b": ("ok", "*"),
    "c": ("unused", None),
}
GRADS = {"a": "nonzero", "b": "nonzero", "c": "none"}


def run(trace):
    a = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(3.0, requires_grad=True)
    c = torch.tensor(4.0, requires_grad=True)
    with trace({"a": a, "b": b, "c": c}):
        loss = (a * b) ** 2
        loss.backward()
    return {"a": a, "b": b, "c": c}
