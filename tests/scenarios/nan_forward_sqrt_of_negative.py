"""`torch.sqrt(torch.sqrt(w - 2))`: w - 2 is negative, so the inner sqrt makes NaN in the forward; every
later op (and the backward) only carries it on. Truth: w.grad is NaN. Anomaly mode names a downstream op.
gradviz: nonfinite, where = that line, and the message says the forward of sqrt produced it from a negative
input; the fix adds an epsilon / clamps."""

import torch

RAISES = None
NOTE = []
EXPECT = {"w": ("nonfinite", "@born"), "b": ("nonfinite", "*")}
GRADS = {"w": "nonfinite", "b": "nonfinite"}
MESSAGE = {"w": ["forward of sqrt", "negative input", ("clamp", "epsilon")]}


def run(trace):
    w = torch.tensor([1.0, 0.5, 3.0], requires_grad=True)
    b = torch.tensor([0.1, 0.2, 0.3], requires_grad=True)
    tensors = {"w": w, "b": b}
    with trace(tensors):
        h = torch.sqrt(torch.sqrt(w - 2))  # @born
        out = (h * b + 1.0).tanh()
        loss = out.sum()
        loss.backward()
    return tensors
