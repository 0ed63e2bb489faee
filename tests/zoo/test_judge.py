"""The zoo's judge on its own: plain-torch states, bitwise comparison, and each rule of the comparison.

A sweep that reports "0 false alarms" is only worth what its comparison is; these tests feed it verdicts
that are wrong in each way and check that it says so (no transformers needed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from ._compare import compare_ddp, compare_ddp_watch, compare_verdicts, compare_watch
from ._truth import Truth, exact_norm, grad_state, same_bits


@dataclass
class _Cause:
    value: str


@dataclass
class _Verdict:
    cause: _Cause
    where: str | None = None
    message: str = ""
    grad_norm: float | None = None


def verdict(cause: str, where: str | None = None, grad_norm: float | None = None) -> _Verdict:
    return _Verdict(_Cause(cause), where, "", grad_norm)


def truth(
    state: str, *, requires_grad: bool = True, in_optimizer: bool = True, norm: float | None = 1.0
) -> Truth:
    return Truth({"w": state}, {"w": requires_grad}, {"w": in_optimizer}, {"w": norm})


def sparse(indices, values) -> torch.Tensor:
    return torch.sparse_coo_tensor(indices, values, (4,), check_invariants=True)


# -- plain-torch states ------------------------------------------------------------------------------------


def test_grad_state_is_exact_for_every_dtype_and_layout() -> None:
    assert grad_state(None) == "none"
    assert grad_state(torch.zeros(3)) == "zero"
    assert grad_state(torch.tensor([0.0, -0.0])) == "zero"
    assert grad_state(torch.tensor([1e-45, 0.0])) == "finite"  # a float32 subnormal is not zero
    assert grad_state(torch.full((4,), 60000.0, dtype=torch.half)) == "finite"  # norm > fp16 max, all finite
    assert grad_state(torch.tensor([1.0, float("nan")])) == "nonfinite"
    assert grad_state(torch.tensor([float("inf")], dtype=torch.bfloat16)) == "nonfinite"
    assert grad_state(sparse([[0, 2]], [0.5, 0.0])) == "finite"
    assert grad_state(sparse([[1]], [0.0])) == "zero"
    assert grad_state(sparse(torch.empty(1, 0, dtype=torch.long), [])) == "zero"


def test_exact_norm_neither_overflows_nor_underflows() -> None:
    assert exact_norm(torch.full((4,), 60000.0, dtype=torch.half)) == pytest.approx(120000.0)
    assert exact_norm(torch.full((4,), 1e-30)) == pytest.approx(2e-30)
    assert exact_norm(None) is None


def test_same_bits_sees_every_difference() -> None:
    a = torch.tensor([1.0, float("nan"), -0.0])
    assert same_bits(a, a.clone())  # NaN payloads compared as bytes, not with ==
    assert not same_bits(a, torch.tensor([1.0, float("nan"), 0.0]))  # -0.0 vs 0.0
    assert not same_bits(a, a.double())
    assert not same_bits(torch.zeros(2), None)
    assert same_bits(None, None)
    s = sparse([[0, 1]], [1.0, 2.0])
    assert same_bits(s, s.clone()) and not same_bits(s, s * 2)


# -- the comparison ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "cause", "kind"),
    [
        ("finite", "zero", "false_alarm"),
        ("finite", "unused", "false_alarm"),
        ("finite", "nonfinite", "false_alarm"),
        ("none", "ok", "miss"),
        ("none", "zero", "miss"),  # a None-gradient is not "exactly zero"
        ("none", "frozen", "miss"),  # frozen means requires_grad=False, and this one requires grad
        ("zero", "ok", "miss"),
        ("zero", "unused", "miss"),  # unused means None, and torch gave zeros
        ("nonfinite", "ok", "miss"),
        ("nonfinite", "zero", "miss"),
    ],
)
def test_each_wrong_state_is_counted(state: str, cause: str, kind: str) -> None:
    found = compare_verdicts(truth(state), {"w": verdict(cause, grad_norm=1.0)})
    assert [f.kind for f in found] == [kind]


@pytest.mark.parametrize(
    ("state", "cause"),
    [("finite", "ok"), ("none", "unused"), ("none", "detach"), ("none", "checkpoint"), ("zero", "zero")],
)
def test_right_states_pass(state: str, cause: str) -> None:
    norm = {"finite": 1.0, "zero": 0.0}.get(state)
    assert compare_verdicts(truth(state, norm=norm), {"w": verdict(cause, grad_norm=norm)}) == []


def test_frozen_and_optimizer_membership() -> None:
    frozen = truth("none", requires_grad=False)
    assert compare_verdicts(frozen, {"w": verdict("frozen")}) == []
    assert [f.kind for f in compare_verdicts(frozen, {"w": verdict("unused")})] == ["miss"]
    outside = truth("finite", in_optimizer=False)
    assert compare_verdicts(outside, {"w": verdict("not_in_optimizer", grad_norm=1.0)}) == []
    assert [f.kind for f in compare_verdicts(outside, {"w": verdict("ok", grad_norm=1.0)})] == ["miss"]


def test_missing_verdict_norms_known_causes_and_library_lines() -> None:
    assert [f.kind for f in compare_verdicts(truth("finite"), {})] == ["miss"]
    off = compare_verdicts(truth("finite", norm=0.5), {"w": verdict("ok", grad_norm=0.502)})
    assert [f.kind for f in off] == ["wrong_norm"]
    assert compare_verdicts(truth("finite", norm=0.5), {"w": verdict("ok", grad_norm=0.5002)}) == []
    assert compare_verdicts(truth("finite", norm=0.5), {"w": verdict("ok")}, check_norms=False) == []
    known = compare_verdicts(truth("none"), {"w": verdict("detach")}, causes=[("w", "unused")])
    assert [f.kind for f in known] == ["wrong_cause"]
    lib = "/x/.venv/lib/python3.11/site-packages/transformers/models/llama/modeling_llama.py:12"
    found = compare_verdicts(truth("none"), {"w": verdict("detach", where=lib)})
    assert [f.kind for f in found] == ["library_where"]
    assert compare_verdicts(truth("none"), {"w": verdict("detach", where="train.py:3")}) == []


def test_ddp_rejects_exactly_the_parameters_that_require_grad_and_got_none() -> None:
    t = Truth(
        {"a": "none", "b": "finite", "c": "none", "d": "zero"},
        {"a": True, "b": True, "c": False, "d": True},
        dict.fromkeys("abcd", True),
    )
    assert compare_ddp(t, ["a"]) == []
    kinds = {(f.kind, f.name) for f in compare_ddp(t, ["b", "c", "d"])}
    assert kinds == {("false_alarm", "b"), ("false_alarm", "c"), ("false_alarm", "d"), ("miss", "a")}


def test_watch_states_norms_and_its_ddp_lists() -> None:
    steps = [
        Truth(
            {"a": "finite", "b": "none"},
            {"a": True, "b": True},
            {"a": True, "b": True},
            {"a": 2.0, "b": None},
        ),
        Truth(
            {"a": "finite", "b": "finite"},
            {"a": True, "b": True},
            {"a": True, "b": True},
            {"a": 2.0, "b": 1.0},
        ),
    ]
    nan = math.nan
    right = [["finite", "none"], ["finite", "finite"]]
    assert compare_watch(steps, ["a", "b"], right, [[2.0, nan], [2.0, 1.0]]) == []
    wrong = compare_watch(steps, ["a", "b"], [["zero", "none"], ["finite", "none"]], [[0.0, nan], [2.0, nan]])
    assert {(f.kind, f.check, f.name) for f in wrong} == {
        ("false_alarm", "watch step 0", "a"),
        ("false_alarm", "watch step 1", "b"),
    }
    assert [f.kind for f in compare_watch(steps, ["a", "b"], right, [[2.1, nan], [2.0, 1.0]])] == [
        "wrong_norm"
    ]
    assert [f.kind for f in compare_watch(steps, ["a", "b"], right[:1], [[2.0, nan]])] == ["miss"]
    assert compare_ddp_watch(steps, sometimes=["b"], never=[]) == []
    assert {f.kind for f in compare_ddp_watch(steps, sometimes=[], never=["b"])} == {"false_alarm", "miss"}
