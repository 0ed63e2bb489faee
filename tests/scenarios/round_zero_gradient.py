"""`torch.round` of a layer's output as the only path to the loss. Truth: round is differentiable in torch's
sense (no error, gradients exist) but its derivative is 0 everywhere, so the layer's gradients are tensors of
exact zeros. gradviz: zero, where = the round line."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("zero", "@round"), "bias": ("zero", "@round")}
GRADS = {"weight": "zero", "bias": "zero"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        out = torch.round(model(x))  # @round
        loss = nn.functional.mse_loss(out, y)
        loss.backward()
    return model
