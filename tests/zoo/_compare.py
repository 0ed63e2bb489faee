"""Compare what gradviz says with what plain torch did.

- false alarm: gradviz says a parameter will not learn although torch gave it a finite, non-zero gradient
  (and the optimizer holds it);
- miss: gradviz says ``ok`` although torch gave None / exactly zero / non-finite, or its verdict names the
  wrong state (``zero`` must mean exactly zero, ``nonfinite`` non-finite, every None-cause must mean None,
  ``frozen`` must mean ``requires_grad=False`` and the converse), or it gives no verdict at all;
- wrong cause: a None-cause other than the one known by construction (``Case.causes``);
- wrong norm: ``grad_norm`` of a finite gradient off by more than ``NORM_RTOL`` from the float64 norm;
- library where: ``where`` inside an installed library (site-packages, torch): issue 9 wants the user's own
  line that called into the library there, with the library line in the message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from ._truth import Truth

Kind = Literal["false_alarm", "miss", "wrong_cause", "wrong_norm", "library_where"]
NORM_RTOL = 1e-3  # a norm accumulated in float32 is far closer than this, whatever the gradient's dtype

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
    check: str  # "verdict", "diagnose", "ddp_check", "watch step N", "extra verdict"
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
    truth: Truth,
    verdicts: Mapping[str, object],
    causes: Iterable[tuple[str, str]] = (),
    *,
    check_norms: bool = True,
    check: str = "verdict",
) -> list[Finding]:
    found: list[Finding] = []
    for name in truth.state:
        v = verdicts.get(name)
        if v is None:
            found.append(Finding("miss", check, name, _truth_text(truth, name), "no verdict"))
            continue
        got = v.cause.value  # type: ignore[attr-defined]
        if got not in _expected(truth, name):
            found.append(Finding(_kind(truth, name, got), check, name, _truth_text(truth, name), describe(v)))
            continue
        where = getattr(v, "where", None)
        if where and _in_library(where):
            found.append(Finding("library_where", check, name, "a line of the user's code", describe(v)))
        if check_norms and truth.state[name] in ("finite", "zero"):
            want, norm = truth.norm[name], getattr(v, "grad_norm", None)
            if norm is None or not math.isclose(norm, want, rel_tol=NORM_RTOL, abs_tol=0.0):
                found.append(Finding("wrong_norm", check, name, f"norm {want:.6g}", f"grad_norm {norm!r}"))
        if truth.state[name] == "none":
            for part, cause in causes:
                if part in name and got != cause:
                    found.append(
                        Finding("wrong_cause", check, name, f"none (known cause: {cause})", describe(v))
                    )
    return found


def _in_library(where: str) -> bool:
    path = where.replace("\\", "/")
    return (
        "site-packages/" in path or "dist-packages/" in path or path.startswith("torch/") or "/torch/" in path
    )


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


def compare_ddp_watch(steps: list[Truth], sometimes: Iterable[str], never: Iterable[str]) -> list[Finding]:
    """From recorded steps: ``never`` = no gradient on any step, ``sometimes`` = on some steps only."""
    if not steps:
        return []
    names = list(steps[0].state)
    got = {n: sum(t.state[n] != "none" for t in steps) for n in names}
    want_never = {n for n in names if got[n] == 0}
    want_sometimes = {n for n in names if 0 < got[n] < len(steps)}
    found = []
    for label, said, want in (
        ("never", set(never), want_never),
        ("sometimes", set(sometimes), want_sometimes),
    ):
        for n in sorted(said - want):
            found.append(
                Finding("false_alarm", f"ddp_check {label}", n, f"a gradient on {got.get(n)} steps", label)
            )
        for n in sorted(want - said):
            found.append(
                Finding("miss", f"ddp_check {label}", n, f"a gradient on {got[n]} steps", "not listed")
            )
    return found


def compare_watch(
    steps: list[Truth], names: list[str], states: list[list[str]], norms: list[list[float]]
) -> list[Finding]:
    """``states[k][j]`` / ``norms[k][j]``: watch's GradState name and grad norm of ``names[j]`` at step k."""
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
        for name, got, norm in zip(names, row, norms[k], strict=True):
            want = truth.state[name]
            if got != want:
                kind: Kind = "false_alarm" if want == "finite" else "miss"
                found.append(Finding(kind, f"watch step {k}", name, want, got))
            elif want in ("finite", "zero") and not math.isclose(norm, truth.norm[name], rel_tol=NORM_RTOL):
                found.append(
                    Finding(
                        "wrong_norm", f"watch step {k}", name, f"norm {truth.norm[name]:.6g}", f"{norm!r}"
                    )
                )
    return found
