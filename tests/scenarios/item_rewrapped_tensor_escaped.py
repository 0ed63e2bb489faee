"""The loss value taken out with `.item()` and re-wrapped as `torch.tensor(value, requires_grad=True)` (the
usual "fix" after backward complained). Truth: no error (the new tensor is a leaf, backward just sets its own
.grad to 1), but the model gets no gradient at all: the value left torch. gradviz: every parameter escaped,
where = the `.item()` line."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("escaped", "@item"), "bias": ("escaped", "@item")}
GRADS = {"weight": "none", "bias": "none"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        value = nn.functional.mse_loss(model(x), y).item()  # @item
        loss = torch.tensor(value, requires_grad=True)
        loss.backward()
    return model
