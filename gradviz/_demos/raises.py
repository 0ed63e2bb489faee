"""Cases where the popular answer says "the gradient is None" but torch really raises an error.

Each demo keeps the exception in ``demo.error``; gradviz added a note naming the real line and the fix
(``print(*demo.error.__notes__)``), and the widget shows it above the graph.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from gradviz._demos._base import demo, linear, no_optimizer


class InputScaler(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layer = nn.Linear(4, 8)
        self.hidden = nn.Linear(8, 1)

    def forward(self, x):
        x[:] = x * 2  # in place, on the input leaf that requires grad
        return self.hidden(self.input_layer(x))


@demo("raises", {"*": "error"}, build=InputScaler, raises=RuntimeError, where={"*": "x[:] = x * 2"})
def setitem_on_leaf(model, opt):
    """`x[:] = x * 2` on an input that requires grad raises (in-place on a leaf)."""
    x = torch.randn(8, 4, requires_grad=True)
    loss = model(x).sum()
    loss.backward()


def three_vectors() -> dict[str, torch.Tensor]:
    return {name: torch.randn(3, requires_grad=True) for name in "abc"}


@demo(
    "raises", {"*": "error"}, build=three_vectors, optimizer=no_optimizer, raises=RuntimeError,
    where={"*": "a.add_("},
)  # fmt: skip
def add_on_leaf(tensors, opt):
    """`a.add_(...)` on a leaf that requires grad raises at that line."""
    a, b, c = tensors["a"], tensors["b"], tensors["c"]
    a.add_(torch.ones(3))
    loss = (a**2 + b * c).sum()
    loss.backward()


@demo("raises", {"*": "detach"}, build=linear, raises=RuntimeError, where={"*": ".detach()"})
def detach_before_loss(model, opt):
    """`model(x).detach()` before the loss: backward raises, it is not None."""
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    out = model(x).detach()
    loss = F.mse_loss(out, y)
    loss.backward()


@demo("raises", {"*": "data"}, build=linear, raises=RuntimeError, where={"*": "out.data"})
def data_before_loss(model, opt):
    """`mse(out.data, y)`: backward raises; gradviz names the `.data` line."""
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    out = model(x)
    loss = F.mse_loss(out.data, y)
    loss.backward()


@demo("raises", {"*": "error"}, build=linear, raises=RuntimeError, where={"*": "h.mul_(2)"})
def inplace_on_saved(model, opt):
    """`h.mul_(2)` on sigmoid's output raises in backward; gradviz names that line."""
    x = torch.randn(8, 4)
    h = torch.sigmoid(model(x))
    h.mul_(2)
    loss = h.sum()
    loss.backward()
