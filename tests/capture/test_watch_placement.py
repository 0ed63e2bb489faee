"""The watch view's graph places each op in the module whose forward ran it, as gradviz.trace does
(NOTE [placed by the forward] in capture/_scopes.py), not by the owner of the parameter it reads: a tied
weight (GPT-2's ``lm_head.weight is transformer.wte.weight``) put lm_head's matmul in the embedding's box.
Compared as the widget receives them: per module, the op nodes placed in it."""

from __future__ import annotations

import contextlib
from collections import Counter

import pytest
import torch
from torch import nn

import gradviz
from gradviz.capture._scopes import ForwardScopes, module_left, scopes_of
from gradviz.view._state import build_state


def _placement(graph: dict) -> dict[str, Counter]:
    """Module path -> the labels of the op nodes drawn in it ("" : the top level)."""
    placed: dict[str, Counter] = {}
    for node in graph["nodes"]:
        if node["kind"] == "op":
            placed.setdefault(node["module"], Counter())[node["label"]] += 1
    return placed


def _trace_and_watch(model: nn.Module, step) -> tuple[dict, dict]:
    with gradviz.trace(model) as t:
        step(model).backward()
    traced = _placement(build_state(t.capture, t.verdicts)[0])
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    with gradviz.watch(model, optimizer=opt) as mon:
        step(model).backward()
        opt.step()
    assert mon.graph is not None
    return traced, _placement(mon.graph[0])


def test_a_tied_lm_head_is_placed_under_lm_head_as_the_trace_places_it():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=96, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    model = transformers.GPT2LMHeadModel(config)
    assert model.lm_head.weight is model.transformer.wte.weight  # tied: named once, as wte's
    ids = torch.randint(96, (2, 16))
    traced, watched = _trace_and_watch(model, lambda m: m(input_ids=ids, labels=ids).loss)
    assert watched == traced
    assert watched["lm_head"]["MmBackward0"] == 1  # lm_head's matmul, in lm_head's box ...
    assert "MmBackward0" not in watched.get("transformer.wte", Counter())  # ... not in the embedding's


class _Parent(nn.Module):
    def __init__(self, proj: nn.Linear) -> None:
        super().__init__()
        self.proj = proj
        self.scale = nn.Parameter(torch.ones(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.proj(x)) * self.scale


class _Shared(nn.Module):
    """One Linear used by two parents (named once, as ``a.proj``)."""

    def __init__(self) -> None:
        super().__init__()
        shared = nn.Linear(8, 8)
        self.a = _Parent(shared)
        self.b = _Parent(shared)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x)).sum()


def test_a_linear_shared_by_two_parents_is_placed_as_the_trace_places_it():
    torch.manual_seed(0)
    model = _Shared()
    x = torch.randn(4, 8)
    traced, watched = _trace_and_watch(model, lambda m: m(x))
    assert watched == traced
    assert watched["a.proj"]["AddmmBackward0"] == 2  # both calls, in the one box the Linear is named by
    assert watched["a"]["TanhBackward0"] == watched["b"]["TanhBackward0"] == 1  # each parent its own ops


def test_spans_nest_and_survive_a_forward_that_raises():
    """The innermost module's span holds a node; a forward that raised inside another is closed with it;
    a new forward of the model replaces the spans of the older one; nothing stays registered."""

    class Boom(nn.Module):
        def forward(self, x):
            torch.exp(x)  # a node made here, then the forward raises
            raise ValueError("boom")

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Linear(3, 3)
            self.boom = Boom()

        def forward(self, x, fail=False):
            y = self.inner(x).relu()
            if fail:
                with contextlib.suppress(ValueError):
                    self.boom(y)
            return y * 2

    model = Model()
    errors = []
    scopes = ForwardScopes(model, on_error=lambda exc, stage: errors.append(exc))
    # the watch's process-wide hook after forwards (capture/_listen.py) is what closes a span
    after = torch.nn.modules.module.register_module_forward_hook(
        lambda module, args, out: module_left(module)
    )
    try:
        x = torch.randn(2, 3, requires_grad=True)
        out = model(x, fail=True)
        mul = out.grad_fn
        relu = mul.next_functions[0][0]
        addmm = relu.next_functions[0][0]
        assert scopes.module_of(mul._sequence_nr()) == ""  # after boom raised: the model's own
        assert scopes.module_of(relu._sequence_nr()) == ""
        assert scopes.module_of(addmm._sequence_nr()) == "inner"
        assert scopes.module_of(mul._sequence_nr() - 1) == ""  # boom's exp: where boom ended is unknown
        before = torch.exp(x).grad_fn._sequence_nr()  # made after the forward: no module's
        assert scopes.module_of(before) is None
        assert scopes_of(model) is scopes
        again = model(x)  # a new forward: the older one's spans are dropped
        assert scopes.module_of(addmm._sequence_nr()) is None
        assert scopes.module_of(again.grad_fn._sequence_nr()) == ""
    finally:
        scopes.forget()
        after.remove()
    assert scopes_of(model) is None
    model(torch.randn(2, 3))  # no hook of it runs any more
    assert scopes.module_of(again.grad_fn._sequence_nr()) == ""


def test_the_watch_keeps_no_spans_after_its_first_backward():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt) as mon:
        assert scopes_of(model) is not None
        model(torch.randn(2, 4)).sum().backward()
        assert scopes_of(model) is None
        opt.step()
    modules = {n["module"] for n in mon.graph[0]["nodes"] if n["kind"] == "op"}
    assert {"0", "2"} <= modules
    with gradviz.watch(model, optimizer=opt) as mon:  # closed before any backward: gone too
        assert scopes_of(model) is not None
    assert scopes_of(model) is None
