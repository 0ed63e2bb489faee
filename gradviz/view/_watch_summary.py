"""A watch run in words: each parameter's health at a step, and over the whole run.

A recorded cell says what ``.grad`` held (:class:`~gradviz.records._history.GradState`). Whether the parameter
*learns* also depends on facts the cell alone does not hold: is it frozen (a None gradient is then
expected), is its norm below the vanishing threshold, does the optimizer change it. :func:`health` folds
them into one :class:`Health` per cell; the text views (``Monitor`` repr, the demos) count them, and the
front end (``js/src/watch/health.js``) applies the same rules to draw its title and inspector.

"learn" is never a default: a parameter learns at a step only when its gradient there is finite, not
below ``vanish``, and the optimizer was not seen leaving it unchanged. "all learn" is said only when every
watched parameter learns (a frozen one never does; it is counted apart).

>>> import numpy as np
>>> from gradviz.records import GradState, History
>>> state = np.array([[2, 2, 0], [2, 1, 0]], np.uint8)
>>> h = History([0, 1], ["a", "b", "frozen"], np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)), state)
>>> counts_text(step_counts(h, -1, frozen=[False, False, True]))
'1 learns, 1 with zero gradients, 1 frozen'
"""

from __future__ import annotations

import decimal
import enum
import math
from collections.abc import Sequence

import numpy as np

from gradviz.records import GradState, History

__all__ = [
    "VANISH",
    "Health",
    "counts_text",
    "frozen_columns",
    "health",
    "moves",
    "phrase",
    "run_text",
    "step_counts",
]

#: Default threshold: a finite gradient norm below this is "vanishing" (the widget's flags use it too).
VANISH = 1e-7


class Health(str, enum.Enum):
    """What a parameter's gradient says at one step, worst last (the order ``run_text`` ranks by)."""

    learn = "learn"  # finite, not vanishing, and not seen left unchanged by the optimizer
    vanishing = "vanishing"  # finite, but its norm is below the vanishing threshold
    unchanged = "unchanged"  # finite, but at every measured step the optimizer left the weights unchanged
    frozen = "frozen"  # no gradient, and requires_grad is False
    none = "none"  # no gradient (.grad was None), and not known to be frozen
    zero = "zero"  # exactly zero everywhere
    nonfinite = "nonfinite"  # some element NaN or Inf


_ORDER = list(Health)
#: The order counts are written in: learning first, then the problems, worst first; frozen last.
_TEXT_ORDER = [
    Health.learn,
    Health.nonfinite,
    Health.zero,
    Health.none,
    Health.unchanged,
    Health.vanishing,
    Health.frozen,
]
_PHRASE = {
    Health.learn: "learn",  # "1 learns"
    Health.vanishing: "vanishing (norm < {vanish})",
    Health.unchanged: "unchanged by the optimizer",
    Health.frozen: "frozen",
    Health.none: "without a gradient",
    Health.zero: "with zero gradients",
    Health.nonfinite: "with NaN/Inf gradients",
}


def phrase(h: Health, n: int, vanish: float = VANISH) -> str:
    """The count and its words: "3 learn", "1 learns", "2 with zero gradients", ..."""
    text = _PHRASE[h].format(vanish=_number(vanish))
    return f"{n} {text}{'s' if h is Health.learn and n == 1 else ''}"


def _number(x: float) -> str:
    """A threshold as JavaScript's ``String(x)`` writes it ("1e-7", "0.00001", "1234567"), so Python and the
    widget say the same: the shortest digits that read back as ``x``, in fixed notation from 1e-6 to 1e21,
    else as ``<d>[.<ddd>]e<sign><exp>`` (ECMAScript's Number::toString)."""
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    digits, exponent = _shortest(abs(x))
    k, n = len(digits), len(digits) + exponent  # the value is 0.<digits> x 10^n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return f"{sign}{digits[:n]}.{digits[n:]}"
    if -6 < n <= 0:
        return f"{sign}0.{'0' * -n}{digits}"
    mantissa = digits[0] + (f".{digits[1:]}" if k > 1 else "")
    return f"{sign}{mantissa}e{'+' if n - 1 > 0 else '-'}{abs(n - 1)}"


def _shortest(x: float) -> tuple[str, int]:
    """(digits, exponent) with x == int(digits) * 10**exponent, the fewest digits that round-trip."""
    _, digits, exponent = decimal.Decimal(repr(x)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    return text, int(exponent) + len(digits) - len(text)


def frozen_columns(names: Sequence[str], graph: dict | None) -> list[bool]:
    """Which columns are frozen (``requires_grad`` False), as the graph of the first backward says.

    Without a graph this is unknown, and every column reads False: a frozen parameter is then reported as
    "without a gradient", which is true, only less specific.
    """
    frozen = {v["name"] for v in (graph or {}).get("verdicts", ()) if v.get("cause") == "frozen"}
    return [name in frozen for name in names]


def moves(history: History) -> list[bool | None]:
    """Per column: did the optimizer change the weights at a measured step where the gradient was finite?

    True when some such step shows a non-zero update ratio; False when there were such steps and none did
    (the optimizer does not hold the parameter, its learning rate is 0, or the update is too small to change
    a float32 weight); None when no weight step was measured while it had a finite gradient.
    """
    ratio = history.update_ratio
    measured = ~np.isnan(ratio).all(axis=1)  # rows where the weights were measured for some column
    finite = (history.state == GradState.finite) & measured[:, None]
    with np.errstate(invalid="ignore"):
        changed = finite & (ratio > 0)  # +Inf: a weight that was all zero (a LayerNorm bias) moved
    return [None if not finite[:, c].any() else bool(changed[:, c].any()) for c in range(len(history.names))]


def health(
    history: History,
    frozen: Sequence[bool] | None = None,
    moved: Sequence[bool | None] | None = None,
    vanish: float = VANISH,
) -> np.ndarray:
    """A :class:`Health` index (into ``list(Health)``) per cell, ``uint8 [rows, params]``."""
    p = len(history.names)
    frozen_ = np.asarray(frozen if frozen is not None else [False] * p, bool)
    moved_ = moved if moved is not None else moves(history)
    stuck = np.array([m is False for m in moved_], bool)
    state, grad = history.state, history.grad_norm
    out = np.full(state.shape, _ORDER.index(Health.learn), np.uint8)
    finite = state == GradState.finite
    with np.errstate(invalid="ignore"):
        low = finite & (grad < vanish)
    out[finite & stuck[None, :]] = _ORDER.index(Health.unchanged)
    out[low] = _ORDER.index(Health.vanishing)
    none = state == GradState.none
    out[none & frozen_[None, :]] = _ORDER.index(Health.frozen)
    out[none & ~frozen_[None, :]] = _ORDER.index(Health.none)
    out[state == GradState.zero] = _ORDER.index(Health.zero)
    out[state == GradState.nonfinite] = _ORDER.index(Health.nonfinite)
    return out


def step_counts(
    history: History,
    row: int,
    frozen: Sequence[bool] | None = None,
    moved: Sequence[bool | None] | None = None,
    vanish: float = VANISH,
) -> dict[Health, int]:
    """How many parameters are in each :class:`Health` at ``row`` (negative: from the end)."""
    cells = health(history, frozen, moved, vanish)[row]
    return {h: int((cells == i).sum()) for i, h in enumerate(_ORDER) if (cells == i).any()}


def counts_text(counts: dict[Health, int], vanish: float = VANISH) -> str:
    """The counts in words: "27 learn, 1 frozen"; "all 28 learn" only when every parameter learns."""
    total = sum(counts.values())
    if total and counts.get(Health.learn, 0) == total:
        return f"all {total} learn" if total > 1 else "it learns"
    return ", ".join(phrase(h, counts[h], vanish) for h in _TEXT_ORDER if counts.get(h)) or "no parameter"


def run_text(
    history: History,
    frozen: Sequence[bool] | None = None,
    moved: Sequence[bool | None] | None = None,
    vanish: float = VANISH,
) -> str:
    """The whole run in one line: each parameter counted by the worst it reached, with the first step
    (parts apart by "; ", so the vanishing threshold's parentheses never sit beside another pair).

    >>> run_text(h, frozen=[False, False, True])  # doctest: +SKIP
    'over 2 recorded steps: 1 learns at every step; 1 with zero gradients, first at step 1; 1 frozen'
    """
    rows = len(history)
    if not rows:
        return "no step recorded yet"
    cells = health(history, frozen, moved, vanish)
    worst = cells.max(axis=0)  # Health is ordered worst last
    over = f"over {rows} recorded step{'s' if rows != 1 else ''}: "
    if (worst == _ORDER.index(Health.learn)).all():
        return over + (f"all {len(worst)} learn" if len(worst) > 1 else "it learns") + " at every step"
    parts = []
    for h in _TEXT_ORDER:
        i = _ORDER.index(h)
        columns = np.flatnonzero(worst == i)
        if not len(columns):
            continue
        text = phrase(h, len(columns), vanish)
        if h is Health.learn:
            text += " at every step"
        elif h is not Health.frozen:
            first = int(np.argmax((cells[:, columns] == i).any(axis=1)))
            text += f", first at step {int(history.steps[first])}"
        parts.append(text)
    return over + "; ".join(parts)
