"""Verdicts as tests and data: Trace.to_dict / to_json (a versioned schema) and assert_learns. Each case is
checked against what plain torch does on a copy of the same model and step."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

import gradviz
from gradviz.view._export import SCHEMA, VERSION


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)
        self.frozen = nn.Linear(4, 4).requires_grad_(False)

    def forward(self, x, detach: bool = False):
        h = torch.relu(self.enc(x))
        if detach:
            h = h.detach()  # the bug
        return self.head(h) + self.frozen(x).sum(-1, keepdim=True) * 0


def _plain_grads(model: nn.Module, step) -> dict[str, str]:
    twin = copy.deepcopy(model)
    step(twin)
    return {n: "none" if p.grad is None else "set" for n, p in twin.named_parameters()}


def _step(detach: bool):
    def step(model: nn.Module) -> None:
        torch.manual_seed(1)
        model(torch.randn(5, 4), detach=detach).pow(2).mean().backward()

    return step


def test_a_healthy_step_passes_and_its_data_says_so() -> None:
    torch.manual_seed(0)
    model = Net()
    truth = _plain_grads(model, _step(False))
    assert truth == {"enc.weight": "set", "enc.bias": "set", "head.weight": "set", "head.bias": "set",
                     "frozen.weight": "none", "frozen.bias": "none"}  # fmt: skip
    t = gradviz.assert_learns(model, lambda: _step(False)(model))  # frozen is a decision: it passes
    data = json.loads(t.to_json())
    assert (data["schema"], data["version"]) == (SCHEMA, VERSION) == ("gradviz-verdicts", 1)
    assert data["learns"] is True and data["error"] is None and data["births"] == []
    causes = {row["name"]: row["cause"] for row in data["tensors"]}
    assert causes == {"enc.weight": "ok", "enc.bias": "ok", "head.weight": "ok", "head.bias": "ok",
                      "frozen.weight": "frozen", "frozen.bias": "frozen"}  # fmt: skip
    assert data == t.to_dict()
    assert all(isinstance(r["grad_norm"], float) for r in data["tensors"] if r["cause"] == "ok")


def test_a_cut_fails_with_the_cause_the_line_and_the_fix() -> None:
    torch.manual_seed(0)
    model = Net()
    truth = _plain_grads(model, _step(True))
    assert truth["enc.weight"] == truth["enc.bias"] == "none" and truth["head.weight"] == "set"
    with pytest.raises(gradviz.NotLearningError) as info:
        gradviz.assert_learns(model, lambda: _step(True)(model))
    err = info.value
    assert isinstance(err, AssertionError)
    assert {v.name for v in err.failures} == {"enc.weight", "enc.bias"}
    text = str(err)
    assert "2 of 6 tensors will not learn" in text and "detach at" in text and "fix:" in text
    assert "h = h.detach()" in text  # the user's own line
    data = err.trace.to_dict()
    assert data["learns"] is False and data["counts"]["red"] == 2
    # allowed by name, by pattern, or by cause
    err.trace.assert_learns(allow={"enc.weight", "enc.bias"})
    err.trace.assert_learns(allow=["enc.*"])
    err.trace.assert_learns(allow={"enc.*": "detach"})
    with pytest.raises(gradviz.NotLearningError):
        err.trace.assert_learns(allow={"enc.*": ["zero", "nonfinite"]})


def test_nan_gradients_fail_and_cross_json_as_strings() -> None:
    class Sqrt(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            h = self.lin(x)
            return (h - h.flip(0)).pow(2).sum(-1).sqrt().sum()  # sqrt's backward at 0: Inf

    torch.manual_seed(0)
    model = Sqrt()
    x = torch.randn(3, 4)
    twin = copy.deepcopy(model)
    twin(x).backward()
    assert not torch.isfinite(twin.lin.weight.grad).all()  # plain torch: NaN
    with pytest.raises(gradviz.NotLearningError) as info:
        gradviz.assert_learns(model, lambda: model(x).backward())
    data = json.loads(info.value.trace.to_json())  # strict JSON: no NaN literal
    row = next(r for r in data["tensors"] if r["name"] == "lin.weight")
    assert row["cause"] == "nonfinite" and row["grad_norm"] in ("nan", "inf")
    (birth,) = data["births"]
    assert (birth["phase"], birth["op"]) == ("backward", "sqrt") and ".sqrt()" in birth["code"]


def test_a_step_that_raises_raises_its_own_error_with_the_report_as_a_note() -> None:
    model = nn.Linear(3, 1)

    def step() -> None:
        out = model(torch.randn(2, 3))
        out.backward()  # not a scalar

    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar") as info:
        gradviz.assert_learns(model, step)
    assert any("weight" in note for note in getattr(info.value, "__notes__", []))


def test_bad_arguments_say_what_is_expected() -> None:
    model = nn.Linear(3, 1)
    with gradviz.trace(model) as t:
        model(torch.randn(2, 3)).sum().backward()
    with pytest.raises(TypeError, match="names or patterns"):
        t.assert_learns(allow="weight")
    with pytest.raises(ValueError, match="is not a cause"):
        t.assert_learns(allow={"weight": "broken"})
    with pytest.raises(TypeError, match="step must be a function"):
        gradviz.assert_learns(model, None)  # type: ignore[arg-type]


def test_a_watched_runs_summary_as_data_says_what_the_banner_says(tmp_path) -> None:
    """A run that goes NaN at step 3 (a NaN in the batch): the summary's problem is what plain torch saw."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    mon = gradviz.watch(model, opt, log_dir=tmp_path / "run")
    seen_nan = []
    for step in range(5):
        x = torch.randn(8, 4)
        if step >= 3:
            x[0, 0] = float("nan")
        opt.zero_grad()
        model(x).sum().backward()
        seen_nan.append(not all(torch.isfinite(p.grad).all() for p in model.parameters()))
        opt.step()
    mon.close()
    first = seen_nan.index(True)  # plain torch: the first step with a non-finite gradient
    data = json.loads(mon.to_json())
    assert (data["schema"], data["version"]) == ("gradviz-run-summary", 1)
    assert data["steps_recorded"] == 5 and data["last_step"] == 4 and data["optimizer"] == "SGD"
    (nan,) = [p for p in data["problems"] if p["kind"] == "nonfinite"]
    assert nan["step"] == first == data["first_nonfinite"]["step"]
    assert set(nan["parameters"]) <= {n for n, _ in model.named_parameters()} and nan["parameters"]
    assert gradviz.open(tmp_path / "run").to_dict()["problems"] == data["problems"]  # the same from disk
