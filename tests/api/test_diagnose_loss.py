"""gradviz.diagnose: verdicts from a finished loss's graph alone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gradviz
from gradviz import Cause


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 1)
        self.unused = nn.Linear(3, 1)
        self.frozen = nn.Linear(3, 3)
        self.frozen.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x) + self.frozen(x))


def test_after_backward_tells_reached_unreached_frozen_and_optimizer() -> None:
    model = Net()
    opt = torch.optim.SGD([*model.a.parameters()], lr=0.1)
    loss = model(torch.randn(4, 3)).sum()
    loss.backward()
    d = gradviz.diagnose(loss, model, opt)
    causes = {k: v.cause for k, v in d.verdicts.items()}
    assert causes["a.weight"] is Cause.ok
    assert causes["b.weight"] is Cause.not_in_optimizer
    assert causes["unused.weight"] is Cause.unused
    assert causes["frozen.weight"] is Cause.frozen
    assert any("gradviz.trace" in n for n in d.capture.notes)  # says how to locate a cut


def test_before_backward_judges_reachability_only() -> None:
    model = Net()
    loss = model(torch.randn(4, 3)).sum()
    d = gradviz.diagnose(loss, model)
    assert d.verdicts["a.weight"].cause is Cause.ok
    assert d.verdicts["unused.weight"].cause is Cause.unused
    assert any("No gradients yet" in n for n in d.capture.notes)


def test_zero_and_nonfinite_from_the_gradient_values() -> None:
    model = nn.Linear(2, 1)
    loss = torch.sqrt(model(torch.zeros(3, 2)) * 0).sum() + torch.round(model.bias * 0).sum()
    loss.backward()
    d = gradviz.diagnose(loss, model)
    assert d.verdicts["weight"].cause is Cause.nonfinite


def test_without_a_model_every_reached_leaf_is_diagnosed() -> None:
    a = torch.randn(2, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    loss = (a * 2).sum() + b.sum()
    loss.backward()
    d = gradviz.diagnose(loss)
    assert sorted(name.partition("[")[2] for name in d.verdicts) == ["2]", "3]"]  # named by shape
    assert all(v.cause is Cause.ok for v in d.verdicts.values())


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="loss must be a tensor"):
        gradviz.diagnose(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"model must be an nn\.Module"):
        gradviz.diagnose(torch.ones(1, requires_grad=True).sum(), model={"a": 1})  # type: ignore[arg-type]
