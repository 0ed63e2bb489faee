"""What the watch view says about precision headroom (NOTE [precision headroom] in
gradviz/capture/_headroom.py): the banner's line when a parameter heads for overflow, and each parameter's
headroom over the recorded steps for the chart under the gradient norms.

Plain data in (the ``Headroom`` records of the latest step, and the headroom in bits of the recorded steps
that were kept: ``steps`` and a ``[len(steps), len(columns)]`` array), plain data out: the ``headroom``
entry of the watch timeline and the series that ``build_watch_state`` lines up with the history's rows
(the ``headroom`` trait, js/STATE.md). No torch object is read here.

>>> from gradviz.records import Headroom
>>> hot = Headroom("fc.weight", "float16", 65504.0, 41, 9100.0, 2.84, True, -0.38, 7.5, 38)
>>> view = watch_headroom(["fc.weight", "fc.bias"], {"fc.weight": hot}, [40, 41], [[3.2, 9.0], [2.85, 9.0]])
>>> text = view.info["text"]
>>> text.startswith("fc.weight heads for float16 overflow: its gradient peaks at 9.1e3 (2.8 bits below")
True
>>> text.endswith(", losing 0.38 bits per step — overflow in about 8 steps (flagged at step 38).")
True
>>> view.info["charted"], view.info["flagged"]
([True, False], [0])
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from gradviz.records import Headroom, overflow_words, short_number
from gradviz.view._export import wire_number

__all__ = ["MAX_SAVED", "WatchHeadroom", "saved_columns", "watch_headroom"]

#: Parameters whose per-step headroom a run folder keeps (``headroom.json``): the flagged ones first, then
#: those with the least headroom.
MAX_SAVED = 16
_LISTED = 3  # other flagged names listed in the banner's sentence


@dataclasses.dataclass(frozen=True)
class WatchHeadroom:
    """``info``: the timeline's ``headroom`` entry; ``steps`` and ``bits`` (``[len(steps), columns]``,
    float32, NaN: no value or not kept): the headroom series ``build_watch_state`` aligns to its rows."""

    info: dict[str, object]
    steps: np.ndarray
    bits: np.ndarray


def watch_headroom(
    names: Sequence[str],
    records: Mapping[str, Headroom],
    steps: Sequence[int] | np.ndarray = (),
    bits: Sequence[Sequence[float]] | np.ndarray | None = None,
    *,
    series: Sequence[str] | None = None,
    unreadable: str = "",
) -> WatchHeadroom:
    """The view of the run's headroom, for the columns ``names``.

    ``records``: the latest ``Headroom`` of each parameter that had a gradient (``mon.headroom``);
    ``steps``, ``bits``: the headroom in bits at the recorded steps kept, one column per name of ``series``
    (default: ``names``). A column is *charted* (the chart shows it when it is selected) when its series
    is there and it is half precision (its peak measured exactly) or flagged. ``unreadable``: a run read
    from disk whose ``headroom.json`` was left out, and why (the view says so; nothing is charted).
    """
    names = list(names)
    index = {name: i for i, name in enumerate(names)}
    step_array = np.asarray(steps, np.int64).reshape(-1)
    full = np.full((len(step_array), len(names)), np.nan, np.float32)
    covered = np.zeros(len(names), bool)
    if bits is not None and len(step_array):
        given = np.asarray(bits, np.float32).reshape(len(step_array), -1)
        for j, name in enumerate(series if series is not None else names):
            i = index.get(name)
            if i is not None and j < given.shape[1]:
                full[:, i] = given[:, j]
                covered[i] = True
    if unreadable:
        records, covered[:] = {}, False
    params: list[dict[str, object] | None] = []
    charted: list[bool] = []
    for i, name in enumerate(names):
        rec = records.get(name)
        params.append(_entry(rec) if rec is not None else None)
        charted.append(bool(rec is not None and covered[i] and (rec.exact or rec.flagged)))
    hot = [i for i, name in enumerate(names) if name in records and records[name].flagged]
    hot.sort(key=lambda i: (_urgency(records[names[i]]), i))
    title, text = _words([records[names[i]] for i in hot])
    info: dict[str, object] = {
        "step": max((r.step for r in records.values()), default=-1),
        "params": params,
        "charted": charted,
        "flagged": hot,
        "title": title,
        "text": text,
        "note": (f"Precision headroom cannot be shown: {unreadable}." if unreadable else ""),
    }
    return WatchHeadroom(info, step_array, full)


def saved_columns(records: Mapping[str, Headroom], names: Sequence[str]) -> list[str]:
    """The at most MAX_SAVED parameters whose headroom series a run folder keeps: the flagged ones (closest
    to overflow first), then those with the least headroom.

    >>> from gradviz.records import Headroom
    >>> rec = lambda n, bits, at=None: Headroom(n, "float16", 65504.0, 9, 1.0, bits, True, flagged_at=at)
    >>> saved_columns({"a": rec("a", 9.0), "b": rec("b", 3.0), "c": rec("c", 12.0, at=4)}, ["a", "b", "c"])
    ['c', 'b', 'a']
    """
    known = [name for name in names if name in records]
    flagged = sorted((n for n in known if records[n].flagged), key=lambda n: _urgency(records[n]))
    rest = sorted(
        (n for n in known if not records[n].flagged),
        key=lambda n: records[n].bits if math.isfinite(records[n].bits) else -math.inf,
    )
    return (flagged + rest)[:MAX_SAVED]


def _urgency(rec: Headroom) -> float:
    """Closest to overflow first: an overflowed gradient (no finite headroom), then the least bits."""
    return rec.bits if math.isfinite(rec.bits) else -math.inf


def _entry(rec: Headroom) -> dict[str, object]:
    """A record's fields as wire numbers (js/STATE.md), and its words."""
    out: dict[str, object] = {}
    for field in dataclasses.fields(rec):
        value = getattr(rec, field.name)
        out[field.name] = wire_number(value) if isinstance(value, float) else value
    out["text"] = rec.text()
    return out


def _words(hot: Sequence[Headroom]) -> tuple[str, str]:
    """(the banner's title, its sentence) for the flagged records, closest to overflow first."""
    if not hot:
        return "", ""
    dtypes = sorted({r.dtype for r in hot})
    of = f"{dtypes[0]} overflow" if len(dtypes) == 1 else f"overflow ({', '.join(dtypes)})"
    first = hot[0]
    if len(hot) == 1:
        text = f"{first.name} heads for {of}: its gradient {_detail(first)}"
    else:
        text = f"{len(hot)} parameters head for {of}: {first.name}'s gradient {_detail(first)}"
        others = [r.name for r in hot[1:]]
        listed = ", ".join(others[:_LISTED])
        more = len(others) - _LISTED
        text += f"; also flagged: {listed}" + (f" and {more} more" if more > 0 else "")
    return f"Heading for {of}", text + "."


def _detail(rec: Headroom) -> str:
    """'peaks at 9.1e3 (2.8 bits below 65504), losing 0.38 bits per step — overflow in about 7 steps
    (flagged at step 41)'."""
    flagged = f"flagged at step {rec.flagged_at}"
    if not math.isfinite(rec.peak) or not math.isfinite(rec.bits):
        return f"is no longer finite at step {rec.step} ({flagged})"
    said = (
        f"peaks at {short_number(rec.peak)} ({rec.bits:.1f} bits below {short_number(rec.limit, whole=True)})"
        if rec.exact
        else f"has a norm of {short_number(rec.peak)} (its peak at least {rec.bits:.1f} bits below "
        f"{short_number(rec.limit, whole=True)})"
    )
    trend, left = rec.trend, rec.steps_left
    if trend is not None and trend < 0 and left is not None and math.isfinite(left):
        said += f", losing {-trend:.2f} bits per step — {overflow_words(left)}"
    else:
        said += ", no longer shrinking"
    return f"{said} ({flagged})"
