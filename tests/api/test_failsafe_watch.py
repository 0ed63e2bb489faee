"""Fail-safe for a watched run (NOTE [fail-safe]): a fault injected into each of watch's hooks never stops
the training, never changes it (weights bitwise equal to a run without gradviz), warns once, keeps the rows
recorded before it (the same as a run without the fault), says it stopped (repr and view), and leaves no
hook after close()."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from _faults import fails_once
from torch import nn

import gradviz
import gradviz._monitor as monitor_facade
from gradviz.capture import _scopes, _step_norms, _watch

STEPS = 6


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


def _data() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(5, 4, generator=g) for _ in range(STEPS)]


def _train(model: nn.Module, setup: str, mon_kwargs: dict | None):
    """Train STEPS steps; with ``mon_kwargs`` under watch (closed at the end). Returns (monitor, repr at the
    end of training, the optimizer)."""
    if setup == "lbfgs":
        opt = torch.optim.LBFGS(model.parameters(), lr=0.1, max_iter=2)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    manual = setup == "manual"
    mon = None
    if mon_kwargs is not None:
        mon = gradviz.watch(model, None if manual else opt, **mon_kwargs)
    for x in _data():

        def closure(x=x):
            opt.zero_grad()
            loss = model(x).pow(2).mean()
            loss.backward()
            return loss

        if setup == "lbfgs":
            opt.step(closure)
        else:
            closure()
            opt.step()
            if manual and mon is not None:
                mon.step()
    shown = repr(mon) if mon is not None else ""
    if mon is not None:
        mon.close()
    return mon, shown, opt


# (setup, watch's keyword arguments, where the fault goes, on which call)
FAULTS = {
    "gradient norms in the step pre-hook": ("sgd", {}, (_step_norms, "device_norms", 2)),
    "a row's states": ("sgd", {}, (_step_norms, "settle", 1)),
    "the update in the step post-hook": (
        "sgd",
        {"weights_every": 1},
        (_watch.Recorder, "_measure_update", 1),
    ),
    "the graph of the first backward": ("sgd", {}, (monitor_facade, "watch_graph_state", 0)),
    "the model's forward hook": ("sgd", {}, (_watch, "tree_leaves", 0)),
    "the modules' forward pre-hook": ("sgd", {}, (_scopes.ForwardScopes, "_enter", 1)),
    "the live view after a row": ("sgd", {}, (monitor_facade.Monitor, "_push", 2)),
    "a closure step (LBFGS)": ("lbfgs", {}, (_step_norms, "device_norms", 3)),
    "a manual step": ("manual", {}, (_step_norms, "device_norms", 2)),
    "a step left half-done (each pre-hook closes it)": ("sgd", {}, (_watch.Recorder, "_close_open", 0)),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_in_a_watch_hook_never_stops_or_changes_training(monkeypatch, fault) -> None:
    setup, kwargs, (owner, name, after) = FAULTS[fault]
    plain = _model()
    _train(plain, setup, None)
    clean_model = _model()
    clean, _, _ = _train(clean_model, setup, kwargs)
    faulted_model = _model()
    fails_once(monkeypatch, owner, name, after=after)
    hooks_before = (dict(torch.nn.modules.module._global_forward_hooks), dict(_global_pre_hooks()))
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        mon, shown, opt = _train(faulted_model, setup, kwargs)
    # the training is the one without gradviz, bit for bit
    for (n, a), b in zip(plain.named_parameters(), faulted_model.parameters(), strict=True):
        assert torch.equal(a, b), n
    ours = [w for w in got if "gradviz: an internal error" in str(w.message)]
    assert len(ours) == 1 and "Boom" in str(ours[0].message)
    assert ours[0].filename == __file__  # shown at the user's line that was running
    # what was recorded before the fault is what a run without it records
    h, c = mon.history, clean.history
    assert 0 <= len(h) <= len(c)
    assert list(h.steps) == list(c.steps[: len(h)])
    assert (h.grad_norm == c.grad_norm[: len(h)]).all()
    if name != "_close_open":
        assert len(h) < len(c)
    assert mon.stopped is not None
    assert "stopped" in shown and "Boom" in shown
    assert "gradviz stopped recording" in mon._state()["timeline"]["stopped"]
    # nothing is left behind
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks
    assert dict(torch.nn.modules.module._global_forward_hooks) == hooks_before[0]
    assert dict(_global_pre_hooks()) == hooks_before[1]


def test_without_a_fault_nothing_says_stopped() -> None:
    mon, shown, _ = _train(_model(), "sgd", {})
    assert mon.stopped is None and "stopped" not in shown
    assert mon._state()["timeline"]["stopped"] is None


def test_an_error_filter_on_warnings_does_not_turn_the_fault_into_an_exception(monkeypatch) -> None:
    plain = _model()
    _train(plain, "sgd", None)
    model = _model()
    fails_once(monkeypatch, _step_norms, "device_norms", after=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mon, _, _ = _train(model, "sgd", {})
    for a, b in zip(plain.parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert mon.stopped is not None


def _global_pre_hooks():
    return torch.nn.modules.module._global_forward_pre_hooks


def test_a_fault_before_the_first_backward_keeps_the_later_steps_untouched(monkeypatch) -> None:
    """The forward hook fails on the first forward: no hook of watch runs on any later step."""
    model = _model()
    fails_once(monkeypatch, _watch, "tree_leaves")
    calls = {"n": 0}
    real = _watch.Recorder._before_step

    def counted(self, *args, **kwargs):
        calls["n"] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_watch.Recorder, "_before_step", counted)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        mon, _, _ = _train(copy.deepcopy(model), "sgd", {})
    assert calls["n"] == 0 and len(mon.history) == 0


def test_a_stop_nobody_looked_at_before_close_is_still_said_after(monkeypatch) -> None:
    model, opt = _model(), None
    fails_once(monkeypatch, _step_norms, "device_norms", after=2)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        mon = gradviz.watch(model, opt)
        for x in _data():
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
        mon.close()  # nothing read mon.stopped or its repr while it recorded
    assert mon.stopped is not None and "Boom" in mon.stopped[1]
    assert "gradviz stopped recording" in mon._state()["timeline"]["stopped"]
