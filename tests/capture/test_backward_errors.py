"""The line an error in backward is blamed on, for a graph walked twice: two losses of one forward (the
first backward freed it: fix it there) against state carried into a new forward (fix it where it enters).
Found by the fuzzer (seed 2026, program 2080). Each case raises in plain torch first."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradviz


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.rand(4) + 0.5)
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        h = torch.tanh(self.lin(x)) * self.scale
        return h, h


def _same_tensor_twice(model, x):
    a, b = model(x)
    F.mse_loss(a, torch.ones(3, 4)).backward()  # first
    F.mse_loss(b, torch.ones(3, 4)).backward()


def _two_losses_of_one_output(model, x):
    out, _ = model(x)
    l1, l2 = out.sum(), out.pow(2).mean()
    l1.backward()  # first
    l2.backward()


def _second_loss_in_a_helper(model, x):
    def penalty(t):
        return (t - 1).abs().mean()

    out, _ = model(x)
    out.sum().backward()  # first
    penalty(out).backward()


def _state_carried_into_a_new_forward(model, x):
    state = torch.zeros(3, 4)
    for _ in range(2):
        out, _ = model(x + state)  # carried
        out.sum().backward()
        state = out


@pytest.mark.parametrize(
    ("step", "blamed"),
    [
        (_same_tensor_twice, "# first"),
        (_two_losses_of_one_output, "# first"),
        (_second_loss_in_a_helper, "# first"),
        (_state_carried_into_a_new_forward, "# carried"),
    ],
)
def test_a_graph_walked_twice_is_blamed_where_it_is_fixed(step, blamed: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        step(_Net(), x)  # plain torch
    model = _Net()
    t = gradviz.trace(model)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"), t:
        step(model, x)
    error = t.capture.error
    assert error is not None and error.kind == "graph_freed"
    lines, first = inspect.getsourcelines(step)
    expected = first + next(i for i, line in enumerate(lines) if blamed in line)
    assert error.blame is not None and error.blame.line == expected


class _TwoWrites(nn.Module):
    """Two in-place writes of one shape (and one op): the first into a fresh tensor nothing saved yet, the
    second into a tensor an op already saved for its backward. Only the second breaks the backward."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.w = nn.Parameter(torch.randn(4, 4) * 0.5)
        self.how = how

    def forward(self, x):
        h = self.a(x)
        if self.how == "method":
            h.mul_(2.0)  # harmless: nothing saved h yet
            g = h @ self.w
            y = g**2  # pow saves g
            g.mul_(3.0)  # the culprit  # culprit
        elif self.how == "augmented assignment":
            h *= 2.0
            g = h @ self.w
            y = torch.sigmoid(g) * g  # mul saves g
            g *= 3.0  # culprit
        else:  # functional, inplace=True
            h = F.relu(h, inplace=True)
            g = torch.tanh(h @ self.w)  # tanh saves its output
            y = g * 2
            F.relu(g, inplace=True)  # culprit
        return y.sum()


@pytest.mark.parametrize("how", ["method", "augmented assignment", "functional"])
def test_the_write_blamed_is_the_one_after_the_save(how: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        _TwoWrites(how)(x).backward()  # plain torch
    model = _TwoWrites(how)
    t = gradviz.trace(model)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"), t:
        model(x).backward()
    error = t.capture.error
    assert error is not None and error.kind == "inplace_saved"
    lines, first = inspect.getsourcelines(_TwoWrites.forward)
    culprit = {first + i for i, line in enumerate(lines) if line.rstrip().endswith("# culprit")}
    assert error.blame is not None and error.blame.line in culprit
