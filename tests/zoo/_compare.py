"""Compare what gradviz says with what plain torch did.

- false alarm: gradviz says a parameter will not learn although torch gave it a finite, non-zero gradient
  (and the optimizer holds it);
- miss: gradviz says ``ok`` although torch gave None / exactly zero / non-finite, or its verdict names the
  wrong state (``zero`` must mean exactly zero, ``nonfinite`` non-finite, every None-cause must mean None,
  ``frozen`` must mean ``requires_grad=False`` and the converse), or it gives no verdict at all;
- wrong cause: a None-cause other than the one known by construction (``Case.causes``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from ._truth import Truth

Kind = Literal["false_alarm", "miss", "wrong_cause"]

# Causes that say "this backward delivered no gradient" (design.md, cause table).
NONE_CAUSES = frozenset(
    {
        "frozen",
        "unused",
        "detach",
        "data",
        "no_grad",
        "non_differentiable",
        "escaped",
        "checkpoint",
        "cleared",
    }
)


@dataclass(frozen=True)
class Finding:
    kind: Kind
    check: str  # "verdict", "ddp_check", "watch step N", "extra verdict"
    name: str
    truth: str
    got: str

    def line(self) -> str:
        return f"{self.kind:<11} {self.check:<13} {self.name}: torch {self.truth}; gradviz {self.got}"


def describe(v: object) -> str:
    """A verdict as one line: cause, where, message."""
    cause = getattr(v, "cause", None)
    where = getattr(v, "where", None)
    message = " ".join(str(getattr(v, "message", "")).split())
    if len(message) > 220:
        message = message[:217] + "..."
    return f"{getattr(cause, 'value', cause)} (where={where}) {message!r}"


def _expected(truth: Truth, name: str) -> frozenset[str]:
    state = truth.state[name]
    if state == "finite":
        return frozenset({"ok"} if truth.in_optimizer[name] else {"not_in_optimizer"})
    if state == "none":
        return frozenset({"frozen"}) if not truth.requires_grad[name] else NONE_CAUSES - {"frozen"}
    return frozenset({state})  # "zero" or "nonfinite"


def _kind(truth: Truth, name: str, got: str) -> Kind:
    if truth.state[name] == "finite" and truth.in_optimizer[name] and got != "ok":
        return "false_alarm"
    return "miss"


def _truth_text(truth: Truth, name: str) -> str:
    extra = "" if truth.requires_grad[name] else ", requires_grad=False"
    if truth.state[name] == "finite" and not truth.in_optimizer[name]:
        extra += ", not in the optimizer"
    return f"{truth.state[name]}{extra}"


def compare_verdicts(
    truth: Truth, verdicts: Mapping[str, object], causes: Iterable[tuple[str, str]] = ()
) -> list[Finding]:
    found: list[Finding] = []
    for name in truth.state:
        v = verdicts.get(name)
        if v is None:
            found.append(Finding("miss", "verdict", name, _truth_text(truth, name), "no verdict"))
            continue
        got = v.cause.value  # type: ignore[attr-defined]
        if got not in _expected(truth, name):
            found.append(
                Finding(_kind(truth, name, got), "verdict", name, _truth_text(truth, name), describe(v))
            )
            continue
        if truth.state[name] == "none":
            for part, cause in causes:
                if part in name and got != cause:
                    found.append(
                        Finding("wrong_cause", "verdict", name, f"none (known cause: {cause})", describe(v))
                    )
    return found


def compare_ddp(truth: Truth, rejected: Iterable[str]) -> list[Finding]:
    """DDP (find_unused_parameters=False) fails on exactly the parameters that require grad and got none."""
    rejected = set(rejected)
    expected = {n for n, s in truth.state.items() if s == "none" and truth.requires_grad[n]}
    found = [
        Finding("false_alarm", "ddp_check", n, _truth_text(truth, n), "rejected")
        for n in truth.state
        if n in rejected and n not in expected
    ]
    found += [
        Finding("miss", "ddp_check", n, _truth_text(truth, n), "not rejected")
        for n in truth.state
        if n in expected and n not in rejected
    ]
    found += [
        Finding("false_alarm", "ddp_check", n, "not a parameter", "rejected")
        for n in rejected - set(truth.state)
    ]
    return found


def compare_watch(steps: list[Truth], names: list[str], states: list[list[str]]) -> list[Finding]:
    """``states[k][j]``: watch's GradState name for ``names[j]`` at recorded step k."""
    if len(steps) != len(states):
        return [
            Finding("miss", "watch", "*", f"{len(steps)} optimizer steps", f"{len(states)} recorded rows")
        ]
    found: list[Finding] = []
    for k, (truth, row) in enumerate(zip(steps, states, strict=True)):
        if names != list(truth.state):
            return [
                Finding(
                    "miss", "watch", "*", f"columns {list(truth.state)[:3]}...", f"columns {names[:3]}..."
                )
            ]
        for name, got in zip(names, row, strict=True):
            want = truth.state[name]
            if got != want:
                kind: Kind = "false_alarm" if want == "finite" else "miss"
                found.append(Finding(kind, f"watch step {k}", name, want, got))
    return found
