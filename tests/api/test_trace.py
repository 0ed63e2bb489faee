"""The public trace API: what a user relies on beyond the scenario corpus."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradviz
from gradviz import Cause


class TwoLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.enc(x)))


def _line_of(code: str) -> int:
    """Line number in this file of the line holding ``code``."""
    with open(__file__) as f:
        lines = f.read().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip() == code)


def _step(model: nn.Module, x: torch.Tensor) -> None:
    F.mse_loss(model(x), torch.zeros(len(x), 1)).backward()


def test_verdict_fields_and_str_enum() -> None:
    model = TwoLayer()
    with gradviz.trace(model) as t:
        _step(model, torch.randn(5, 4))
    v = t.verdicts["enc.weight"]
    assert v.cause is Cause.ok and v.cause == "ok" and str(v.cause) == "ok"
    assert v.name == "enc.weight" and v.where is None
    assert v.grad_norm == pytest.approx(float(model.enc.weight.grad.norm()))
    assert v.message and v.fix
    assert set(t.verdicts) == {n for n, _ in model.named_parameters()}
    assert not t.problems


def test_gradients_are_bitwise_identical_with_and_without_trace() -> None:
    x = torch.randn(16, 4)
    model = TwoLayer()
    twin = TwoLayer()
    twin.load_state_dict(model.state_dict())
    _step(model, x)
    with gradviz.trace(twin):
        _step(twin, x)
    for (name, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad), name


def test_hooks_and_mode_removed_when_user_code_raises() -> None:
    model = TwoLayer()
    t = gradviz.trace(model)
    with pytest.raises(ZeroDivisionError), t:
        model(torch.randn(2, 4))
        _ = 1 / 0
    # the autouse fixture checks global hooks and the mode stack; the trace still has verdicts
    assert set(t.verdicts) == {"enc.weight", "enc.bias", "head.weight", "head.bias"}
    v = t.verdicts["enc.weight"]  # no gradient arrived because the forward raised: error, at that line
    assert v.cause == "error" and "ZeroDivisionError" in v.message
    assert v.where.endswith(f":{_line_of('_ = 1 / 0')}")


def test_nested_and_repeated_traces() -> None:
    model = TwoLayer()
    x = torch.randn(3, 4)
    with gradviz.trace(model) as outer:
        with gradviz.trace({"enc.weight": model.enc.weight}) as inner:
            _step(model, x)
        model.zero_grad()
        _step(model, x)
    assert inner.verdicts["enc.weight"].cause is Cause.ok
    assert all(v.cause is Cause.ok for v in outer.verdicts.values())
    for _ in range(3):
        model.zero_grad()
        with gradviz.trace(model) as again:
            _step(model, x)
        assert not again.problems


def test_a_trace_is_used_once() -> None:
    model = TwoLayer()
    t = gradviz.trace(model)
    with t:
        _step(model, torch.randn(2, 4))
    with pytest.raises(RuntimeError, match="already used"), t:
        pass


def test_verdicts_are_not_available_while_running() -> None:
    model = TwoLayer()
    with gradviz.trace(model) as t:
        with pytest.raises(RuntimeError, match="still running"):
            _ = t.verdicts
        _step(model, torch.randn(2, 4))
    assert "running" not in repr(t)


def test_nothing_stays_alive_after_the_trace() -> None:
    model = TwoLayer()
    x = torch.randn(64, 4)
    with gradviz.trace(model) as t:
        hidden = torch.relu(model.enc(x))
        loss = model.head(hidden).pow(2).mean()
        loss.backward()
    refs = [weakref.ref(hidden), weakref.ref(loss)]
    del hidden, loss
    gc.collect()
    assert all(r() is None for r in refs), "gradviz kept an activation or the loss alive"
    assert t.verdicts["enc.weight"].cause is Cause.ok  # the trace itself is plain data


def test_graph_nodes_do_not_keep_saved_tensors_alive_with_retain_graph() -> None:
    model = TwoLayer()
    x = torch.randn(8, 4)
    with gradviz.trace(model):
        hidden = torch.sigmoid(model.enc(x))  # sigmoid saves its output for backward
        loss = model.head(hidden).sum()
        loss.backward(retain_graph=True)
    ref = weakref.ref(hidden)
    grad_fn_hooks = loss.grad_fn._backward_pre_hooks if hasattr(loss.grad_fn, "_backward_pre_hooks") else {}
    assert not grad_fn_hooks
    del hidden, loss
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([1, 2, 3], "nn.Module, a dict of name -> tensor, or nothing"),
        (torch.zeros(3), "nn.Module, a dict of name -> tensor, or nothing"),
        ({"a": 3.0}, "must map names to tensors"),
    ],
)
def test_bad_model_argument_is_a_clear_type_error(bad: object, match: str) -> None:
    with pytest.raises(TypeError, match=match), gradviz.trace(bad):  # type: ignore[arg-type]
        pass


def test_bad_optimizer_argument() -> None:
    with pytest.raises(TypeError, match=r"optimizer must be a torch\.optim\.Optimizer"):
        gradviz.trace(TwoLayer(), optimizer="adam")  # type: ignore[arg-type]


def test_empty_model_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no parameters"):
        gradviz.trace(nn.ReLU())


def test_model_of_only_plain_list_layers_is_diagnosed_not_rejected() -> None:
    class Plain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = [nn.Linear(2, 2), nn.Linear(2, 1)]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for layer in self.layers:
                x = layer(x)
            return x

    model = Plain()
    with gradviz.trace(model) as t:
        model(torch.randn(3, 2)).sum().backward()
    assert {v.cause for v in t.verdicts.values()} == {Cause.unregistered}
    assert set(t.verdicts) == {"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"}
    assert "ModuleList" in t.verdicts["layers.0.weight"].fix


def test_non_tensor_loss_backward_is_the_users_error_unchanged() -> None:
    model = TwoLayer()
    with pytest.raises(AttributeError), gradviz.trace(model):
        loss = model(torch.randn(2, 4)).sum().item()
        loss.backward()  # type: ignore[attr-defined]


def test_trace_without_arguments_names_leaves_by_variable() -> None:
    weight = torch.randn(3, requires_grad=True)
    unused = torch.randn(3, requires_grad=True)
    with gradviz.trace() as t:
        (weight * 2).sum().backward()
        _ = unused + 0  # used, but not for the loss
    assert t.verdicts["weight"].cause is Cause.ok
    assert t.verdicts["unused"].cause is Cause.unused


def test_forward_only_trace_says_no_backward_ran() -> None:
    model = TwoLayer()
    with gradviz.trace(model) as t:
        model(torch.randn(2, 4))
    assert any("No backward()" in n for n in t.capture.notes)
    assert t.verdicts["enc.weight"].cause is Cause.ok
    assert "no backward() ran" in t.verdicts["enc.weight"].message


def test_report_is_a_pasteable_table() -> None:
    model = TwoLayer()
    model.head.bias.requires_grad_(False)
    with gradviz.trace(model) as t:
        _step(model, torch.randn(5, 4))
    text = t.report()
    lines = text.splitlines()
    assert lines[0] == "TwoLayer: 4 tensors checked: 3 learn, 1 frozen"  # frozen: not "all learn"
    header = next(line for line in lines if line.startswith("parameter"))
    assert header.split() == ["parameter", "‖grad‖", "cause", "where"]
    assert any(line.split()[:3] == ["head.bias", "None", "frozen"] for line in lines)
    assert "fix:" in text
    assert repr(t) == "<gradviz.Trace TwoLayer: 4 tensors checked: 3 learn, 1 frozen>"


def test_not_in_optimizer_needs_the_optimizer() -> None:
    model = TwoLayer()
    opt = torch.optim.SGD(model.head.parameters(), lr=0.1)
    with gradviz.trace(model, optimizer=opt) as t:
        _step(model, torch.randn(4, 4))
    assert t.verdicts["enc.weight"].cause is Cause.not_in_optimizer
    assert t.verdicts["head.weight"].cause is Cause.ok


def test_gradient_accumulation_over_several_backward_calls() -> None:
    model = TwoLayer()
    with gradviz.trace(model) as t:
        for _ in range(3):
            _step(model, torch.randn(4, 4))
    assert t.capture.backward_calls == 3
    assert not t.problems


def test_grad_assignments_are_clears_not_ops() -> None:
    model = TwoLayer()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.trace(model, optimizer=opt) as t:
        _step(model, torch.randn(3, 4))
        opt.zero_grad()  # the clear
    assert not [op for op in t.capture.ops if op.name == ".grad ="]
    assert t.verdicts["enc.weight"].cause is Cause.cleared
    assert t.verdicts["enc.weight"].where.endswith(f"test_trace.py:{_line_of('# the clear')}")


def _line_of(marker: str) -> int:
    import inspect

    lines = inspect.getsource(inspect.getmodule(_line_of)).splitlines()
    hits = [i for i, line in enumerate(lines, 1) if line.rstrip().endswith(marker) and "_line_of" not in line]
    return hits[0]
