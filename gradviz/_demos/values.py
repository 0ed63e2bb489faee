"""Gradients that exist but are useless: exactly zero, or NaN."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from gradviz._demos._base import demo, linear


class DeadReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 1)
        with torch.no_grad():
            self.fc1.bias.fill_(-100.0)  # every pre-activation is negative: relu outputs 0 everywhere

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        return self.fc2(h)


@demo(
    "values", {"fc1.*": "zero", "fc2.weight": "zero", "fc2.bias": "ok"}, build=DeadReLU,
    where={"fc1.*": "torch.relu("},
)  # fmt: skip
def dead_relu(model, opt):
    """A dead ReLU layer: gradients exist but are exactly zero."""
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    loss = F.mse_loss(model(x), y)
    loss.backward()


@demo("values", {"*": "zero"}, build=linear, where={"*": "torch.round("})
def round_output(model, opt):
    """`torch.round` has derivative 0: the layer's gradient is all zeros."""
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    out = torch.round(model(x))
    loss = F.mse_loss(out, y)
    loss.backward()


def linear_4_3() -> nn.Module:
    return nn.Linear(4, 3)


@demo("values", {"*": "nonfinite"}, build=linear_4_3, where={"*": "torch.sqrt("})
def sqrt_distance_nan(model, opt):
    """sqrt of a zero distance: finite loss, NaN gradients."""
    e = model(torch.randn(5, 4))
    dist = torch.sqrt(((e[:, None] - e[None]) ** 2).sum(-1))
    loss = dist.mean()
    loss.backward()
