"""Fail-safe (NOTE [fail-safe] in gradviz/capture/_failsafe.py): a fault injected into each stage of gradviz
never replaces the user's exception, never stops a step that runs untraced, never runs an op twice, leaves
no hook behind, warns once, and the verdicts say only what is known."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from _faults import Boom, fails_once
from torch import nn

import gradviz
from gradviz import Cause
from gradviz.capture import _backward, _graph, _session, _tracer
from gradviz.records import GradState


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))


def _step(model: nn.Module, x: torch.Tensor) -> None:
    h = model[0](x)
    h.add_(1.0)  # an in-place op: run twice, it would change the result
    model[2](model[1](h)).pow(2).mean().backward()


def _traced(model: nn.Module, step, x: torch.Tensor):
    with gradviz.trace(model) as t:
        step(model, x)
    return t


def _grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters()}


STAGES = {
    "forward tracer, before an op": (_tracer, "tensors_in", 3),
    "forward tracer, after an op ran": (_tracer.OpLog, "append", 2),
    "module hooks": (_session.Session, "_entering", 1),
    "backward hook": (_graph, "node_norm", 0),
    "backward bookkeeping": (_backward.BackwardCalls, "_after", 0),
    "end of the trace": (_session, "locate_births", 0),
    "verdict rules": (gradviz._trace, "decide", 0),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_fault_in_each_stage_leaves_the_step_as_it_runs_untraced(monkeypatch, stage) -> None:
    owner, name, after = STAGES[stage]
    model, x = _model(), torch.randn(5, 4)
    plain = copy.deepcopy(model)
    _step(plain, x)
    fails_once(monkeypatch, owner, name, after=after)
    with pytest.warns(RuntimeWarning, match="gradviz: an internal error") as seen:
        t = _traced(model, _step, x)
    assert sum("internal error" in str(w.message) for w in seen) == 1, "warned once"
    for n, g in _grads(model).items():  # bitwise: each op ran once, as untraced
        assert torch.equal(g, _grads(plain)[n]), (stage, n)
    for v in t.verdicts.values():  # what is known, never a guess
        assert v.cause in (Cause.unknown, Cause.ok), (stage, v)
        if v.cause is Cause.unknown:
            assert "could not decide" in v.message and "finite, non-zero gradient" in v.message


def test_a_fault_never_replaces_the_users_exception(monkeypatch) -> None:
    fails_once(monkeypatch, gradviz._trace, "note_for")
    fails_once(monkeypatch, _session, "locate_births")
    model = _model()

    def step(model: nn.Module, x: torch.Tensor) -> None:
        model(x).sum().backward()
        raise ValueError("the user's own error")

    with (
        pytest.warns(RuntimeWarning, match="internal error"),
        pytest.raises(ValueError, match="the user's own"),
    ):
        _traced(model, step, torch.randn(2, 4))


def test_a_fault_in_the_error_classifier_keeps_the_users_error_and_type(monkeypatch) -> None:
    fails_once(monkeypatch, _backward, "classify_backward_error")
    model = _model()

    def step(model: nn.Module, x: torch.Tensor) -> None:
        h = torch.sigmoid(model[0](x))
        h.mul_(2)
        h.sum().backward()

    with pytest.warns(RuntimeWarning, match="error classifier"), pytest.raises(RuntimeError, match="inplace"):
        _traced(model, step, torch.randn(2, 4))


def test_a_fault_in_the_view_shows_the_verdicts_as_text(monkeypatch) -> None:
    model = _model()
    with gradviz.trace(model) as t:
        model(torch.randn(2, 4)).sum().backward()

    def broken(*args, **kwargs):
        raise Boom("injected into build_state")

    monkeypatch.setattr(gradviz.view, "build_state", broken)
    with pytest.warns(RuntimeWarning, match="internal error in its view"):
        bundle = t._repr_mimebundle_()
    assert set(bundle) == {"text/plain"} and "0.weight: ok" in bundle["text/plain"]


def test_after_a_fault_no_hook_or_mode_is_left_and_the_next_trace_works(monkeypatch) -> None:
    fails_once(monkeypatch, _tracer, "tensors_in")
    model = _model()
    with pytest.warns(RuntimeWarning):
        _traced(model, lambda m, x: m(x).sum().backward(), torch.randn(2, 4))
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with gradviz.trace(model) as t:
            model(torch.randn(2, 4)).sum().backward()
    assert all(v.cause is Cause.ok for v in t.verdicts.values())
    assert t.capture.targets[0].grad_state == GradState.finite
