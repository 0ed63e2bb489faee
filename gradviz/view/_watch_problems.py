"""A watch run's problems in words, one line per kind: what happened, to which parameters, and when.

"At step 60, all 148 parameters went NaN/Inf at once." is not "tok.weight went NaN/Inf first, at step 60;
147 others followed at step 61." The widget's banner writes these lines (``js/src/watch/problems.js``,
the same rules and words; ``tests/view/test_watch_problems.py`` checks that both write the same); the text
views can print them. Kinds, worst first: NaN/Inf, exploding (a norm above ``explode`` x the running median
of the 50 finite norms before it, once there are 5: the charts' ▲), exactly zero, never a gradient, a
gradient lost, not updated by the optimizer, vanishing. Frozen parameters are no problem.

>>> import numpy as np
>>> from gradviz.records import GradState, History
>>> state = np.full((4, 3), int(GradState.finite), np.uint8)
>>> state[2:, 0] = state[3:, 1:] = int(GradState.nonfinite)
>>> ones = np.ones((4, 3))
>>> h = History([0, 1, 2, 3], ["wte.weight", "h.0.w", "head.w"], ones, ones, ones, state)
>>> [line.text for line in problem_lines(h)]
['wte.weight went NaN/Inf first, at step 2; 2 others followed at step 3: h.0.w and head.w.']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from gradviz.records import GradState, History
from gradviz.view._watch_summary import VANISH, Health, _number, health

__all__ = ["Problem", "explosions", "nonfinite_text", "problem_lines"]

MEDIAN_WINDOW = 50  # js/src/watch/flags.js: finite norms the running median looks at
MIN_HISTORY = 5  # no "exploding" until this many earlier norms
_LISTED = 3  # names listed in a sentence: all up to _LISTED + 2, else _LISTED and "and N more"
_ORDER = list(Health)

#: What a kind's parameters did: after the first recorded step, or already at it; (one, several).
_VERBS = {
    "nonfinite": (
        ("went NaN/Inf", "went NaN/Inf"),
        ("already has a NaN/Inf gradient", "already have NaN/Inf gradients"),
    ),
    "explode": (("exploded", "exploded"), ("already explodes", "already explode")),
    "zero": (
        ("got an exactly zero gradient", "got exactly zero gradients"),
        ("already gets an exactly zero gradient", "already get exactly zero gradients"),
    ),
    "none": (
        ("lost its gradient (.grad None)", "lost their gradients (.grad None)"),
        ("gets no gradient (.grad None)", "get no gradient (.grad None)"),
    ),
    "vanishing": (("vanished", "vanished"), ("already vanishes", "already vanish")),
}


@dataclasses.dataclass(frozen=True)
class Problem:
    """One line: its kind, a title, the sentence, the columns (first affected first) and the first row."""

    kind: str
    title: str
    text: str
    columns: list[int]
    row: int


@dataclasses.dataclass(frozen=True)
class _Run:
    history: History
    total: int  # parameters that can get a gradient (not frozen)
    noun: str  # "parameters", or "unfrozen parameters" when some are frozen


def problem_lines(
    history: History,
    frozen: Sequence[bool] | None = None,
    moved: Sequence[bool | None] | None = None,
    vanish: float = VANISH,
    explode: float = 10.0,
) -> list[Problem]:
    """The run's problems, worst first; empty when every parameter learns at every recorded step."""
    rows, params = len(history), len(history.names)
    if not rows or not params:
        return []
    frozen_ = list(frozen) if frozen is not None else [False] * params
    cells = health(history, frozen_, moved, vanish)
    unfrozen = [c for c in range(params) if not frozen_[c]]
    run = _Run(history, len(unfrozen), "unfrozen parameters" if len(unfrozen) < params else "parameters")

    def first_rows(kind: Health) -> np.ndarray:
        hit = cells == _ORDER.index(kind)
        return np.where(hit.any(axis=0), hit.argmax(axis=0), -1)

    none_rows = (cells == _ORDER.index(Health.none)).sum(axis=0)
    # per kind: the first row each column was in it (-1: never)
    firsts = {
        kind: first_rows(Health(kind)) for kind in ("nonfinite", "zero", "none", "unchanged", "vanishing")
    }
    firsts["explode"] = explosions(history, explode)
    firsts["never"] = np.where(none_rows == rows, 0, -1)
    firsts["none"] = np.where(none_rows == rows, -1, firsts["none"])  # None at every step: "never"
    titles = {
        "nonfinite": "NaN/Inf gradients",
        "explode": f"Exploding gradients (a norm above {_number(explode)}× its running median)",
        "zero": "Zero gradients",
        "never": "No gradient ever",
        "none": "Missing gradients",
        "unchanged": "Not updated by the optimizer",
        "vanishing": f"Vanishing gradients (norm < {_number(vanish)})",
    }
    out: list[Problem] = []
    for kind, title in titles.items():
        first = firsts[kind]
        hit = [c for c in range(params) if first[c] >= 0]
        if not hit:
            continue
        at = _row_of(first)
        if kind == "never":
            text = _never(run, hit)
        elif kind == "unchanged":
            text = _unchanged(run, hit)
        else:
            text = _onset(run, hit, at, kind)
        if kind == "nonfinite":
            text += _lost_first(history, min(at(c) for c in hit))
        ordered = _by_row(hit, at)
        out.append(Problem(kind, title, text, ordered, at(ordered[0])))
    return out


def explosions(history: History, explode: float = 10.0) -> np.ndarray:
    """Per column, the first row whose finite norm is above ``explode`` x the median of the up to
    MEDIAN_WINDOW finite positive norms before it, once there are MIN_HISTORY of them (-1: never)."""
    out = np.full(len(history.names), -1)
    grad = history.grad_norm.astype(np.float64)
    usable = (history.state == GradState.finite) & (grad > 0) & np.isfinite(grad)
    for c in range(grad.shape[1]):
        rows = np.flatnonzero(usable[:, c])
        values = grad[rows, c]
        for k in range(MIN_HISTORY, len(values)):
            if values[k] > explode * float(np.median(values[max(0, k - MEDIAN_WINDOW) : k])):
                out[c] = rows[k]
                break
    return out


def _row_of(first: np.ndarray) -> Callable[[int], int]:
    return lambda c: int(first[c])


def _by_row(columns: list[int], at: Callable[[int], int]) -> list[int]:
    return sorted(columns, key=lambda c: (at(c), c))


def _at_step(history: History, row: int) -> str:
    """ "at step 61"; "by step 70" when the steps before it were not recorded; the first recorded step."""
    step = int(history.steps[row])
    if row == 0:
        return f"at the first recorded step ({step})"
    return f"at step {step}" if int(history.steps[row - 1]) == step - 1 else f"by step {step}"


def _names(history: History, columns: list[int]) -> str:
    names = [history.names[c] for c in columns]
    if len(names) == 1:
        return names[0]
    if len(names) <= _LISTED + 2:
        return f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{', '.join(names[:_LISTED])} and {len(names) - _LISTED} more"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _onset(run: _Run, hit: list[int], at: Callable[[int], int], kind: str) -> str:
    """All at once, or one first and the others after it."""
    history, total, noun = run.history, run.total, run.noun
    columns = _by_row(hit, at)
    groups: list[tuple[int, list[int]]] = []
    for c in columns:
        if groups and groups[-1][0] == at(c):
            groups[-1][1].append(c)
        else:
            groups.append((at(c), [c]))
    (row, head), rest = groups[0], groups[1:]
    past, now = _VERBS[kind]
    started = row == 0
    form = now if started else past
    one = len(head) == 1
    n = len(columns)
    if not rest:
        when = _capital(_at_step(history, row))
        at_once = "" if started else " at once"
        if one:
            name = history.names[head[0]]
            return f"{when}, {name} {form[0]}." if started else f"{name} {form[0]} {_at_step(history, row)}."
        if n == total:
            return f"{when}, all {n} {noun} {form[1]}{at_once}."
        return f"{when}, {n} of {total} {noun} {form[1]}{at_once}: {_names(history, columns)}."
    who = history.names[head[0]] if one else f"{len(head)} {noun}"
    whose = "" if one else f" ({_names(history, head)})"
    verb = form[0] if one else form[1]
    if started:
        text = f"{_capital(_at_step(history, 0))}, {who} {verb}{whose}"
    else:
        text = f"{who} {verb} first, {_at_step(history, row)}{whose}"
    others = n - len(head)
    later = [c for _, group in rest for c in group]
    if len(rest) == 1:
        when_others = _at_step(history, rest[0][0])
    else:
        when_others = f"from step {int(history.steps[rest[0][0]])} to step {int(history.steps[rest[-1][0]])}"
    text += f"; {others} other{'' if others == 1 else 's'} followed {when_others}"
    if others <= _LISTED:
        text += f": {_names(history, later)}"
    if n < total:
        text += f" ({n} of {total} {noun})"
    return f"{text}."


def _never(run: _Run, hit: list[int]) -> str:
    history = run.history
    why = ".grad stayed None at every recorded step"
    if len(hit) == 1:
        return f"{history.names[hit[0]]} never got a gradient: {why}."
    if len(hit) == run.total:
        return f"None of the {run.total} {run.noun} got a gradient: {why}."
    return f"{len(hit)} {run.noun} never got a gradient: {why} ({_names(history, sorted(hit))})."


def _unchanged(run: _Run, hit: list[int]) -> str:
    """Not held (its update ratio never measured) or held and left unchanged (a measured ratio of 0)."""
    history = run.history
    ratio = history.update_ratio
    measured = np.flatnonzero(~np.isnan(ratio).all(axis=1))
    steps = "the one step" if len(measured) == 1 else f"all {len(measured)} steps"
    steps += " where the weights were measured"
    held = [c for c in hit if (ratio[measured, c] == 0).any()]
    not_held = [c for c in hit if c not in held]
    why = f"at {steps} (a learning rate of 0, or updates too small to change a float32 weight)"

    def say(columns: list[int], one: str, many: str) -> str:
        if len(columns) == 1:
            return f"{history.names[columns[0]]} {one}"
        return f"{len(columns)} parameters ({_names(history, sorted(columns))}) {many}"

    parts = []
    if not_held:
        parts.append(
            say(
                not_held,
                "gets gradients, but the optimizer does not hold it: its weights never change.",
                "get gradients, but the optimizer does not hold them: their weights never change.",
            )
        )
    if held:
        parts.append(
            say(
                held,
                f"gets gradients, but the optimizer's steps left its weights exactly as they were {why}.",
                f"get gradients, but the optimizer's steps left their weights exactly as they were {why}.",
            )
        )
    return " ".join(parts)


def _lost_first(history: History, row: int) -> str:
    """The run's first NaN/Inf is exact even when rows were dropped (downsampling): say so when the rows
    kept start later."""
    if history.first_nonfinite is None:
        return ""
    step, name = history.first_nonfinite
    if int(step) >= int(history.steps[row]):
        return ""
    return f" The first NaN/Inf was at step {int(step)}, in {name} (a step the history no longer keeps)."


def nonfinite_text(history: History, frozen: Sequence[bool] | None = None) -> str | None:
    """How the run's gradients went NaN/Inf, as the banner says it ("at step 60, all 148 parameters went
    NaN/Inf at once", "wte.weight went NaN/Inf first, at step 60; ..."), to go on a line; None if none did."""
    for problem in problem_lines(history, frozen):
        if problem.kind == "nonfinite":
            text = problem.text.rstrip(".")
            return "at " + text[3:] if text.startswith("At ") else text  # a parameter's name stays as is
    return None
