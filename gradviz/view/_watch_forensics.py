"""What the watch view says about the run's first NaN/Inf gradient, from its replay (``watch(...,
forensics=True)``): where it was born (op, forward or backward, the user's line), or that it came from the
loss, or why there is no replay; and the replayed step's graph for the Graph tab.

Plain data in (the replay's births, its graph state from :func:`~gradviz.view._state.build_state`, the
reason), plain data out: the ``forensics`` entry of the watch timeline and the ``replay`` traits
(``js/STATE.md``, "Watch widget state"). No torch object is read here.

>>> from gradviz.records import Birth, Site
>>> born = Birth("nan", "forward", 3, "log", "g4", Site("/src/model.py", 12, "y = x.log()"),
...              "from a negative input")
>>> view = watch_forensics(7, [born], replay=({"nodes": [{"id": "b0", "kind": "birth"}]}, b"", b""))
>>> view.info["text"]
'Replayed step 7: the NaN was born in the forward of log at model.py:12 — from a negative input.'
>>> view.info["title"]
'Step 7, replayed: NaN born in log (forward) at model.py:12'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from gradviz.records import Birth
from gradviz.view._state import short_where

__all__ = ["NO_REPLAY", "WatchForensics", "watch_forensics"]

#: Births listed in the timeline (the replay's graph marks them all).
LISTED_BIRTHS = 8
_NO_REPLAY_PREFIX = "no replay: "


@dataclasses.dataclass(frozen=True)
class WatchForensics:
    """``info``: the timeline's ``forensics`` entry; ``graph``, ``edge_norms``, ``hists``: the replayed
    step's graph state (``{}``, ``b""`` when there is no replay)."""

    info: dict[str, object]
    graph: dict
    edge_norms: bytes
    hists: bytes


#: The ``replay`` traits of a run with no replay.
NO_REPLAY = WatchForensics({}, {}, b"", b"")


def watch_forensics(
    step: int,
    births: Sequence[Birth],
    *,
    from_loss: bool = False,
    reason: str = "",
    replay: tuple[dict, bytes, bytes] | None = None,
    unreadable: str = "",
) -> WatchForensics:
    """The view of the first NaN/Inf step ``step``: ``births`` of its replay (first first), ``from_loss``
    when the gradient arriving at the model's output was already non-finite, ``reason`` when there is no
    replay or it found no birth, and ``replay``, that step's graph state (None: not replayed).

    ``unreadable``: a run read from disk whose ``forensics.json`` was left out, and why (``step``: the
    history's first NaN/Inf step, -1 if it has none); the view says so, and shows no replay.

    >>> watch_forensics(5, [], unreadable="forensics.json left out: it nests too deep").info["text"]
    'Where the NaN/Inf of step 5 was born cannot be shown: forensics.json left out: it nests too deep.'
    """
    if unreadable:
        of = f" of step {int(step)}" if step >= 0 else ""
        text = f"Where the NaN/Inf{of} was born cannot be shown: {unreadable}."
        lost: dict[str, object] = {"step": int(step), "replayed": False, "from_loss": False, "births": []}
        lost.update(births_total=0, reason=unreadable, text=text, title="")
        return WatchForensics(lost, {}, b"", b"")
    graph, edge_norms, hists = replay if replay is not None else ({}, b"", b"")
    markers = [n["id"] for n in graph.get("nodes", ()) if n.get("kind") == "birth"]
    listed = [
        _birth(b, markers[i] if i < len(markers) else None) for i, b in enumerate(births[:LISTED_BIRTHS])
    ]
    text, title = _words(int(step), births, from_loss, reason, replayed=replay is not None)
    if replay is not None:
        # the replay's own verdicts cannot see the loss: its graph says where the NaN came from
        said = [text] if from_loss or not births else []
        graph = {**graph, "title": title, "notes": [*said, *graph.get("notes", ())]}
    info: dict[str, object] = {
        "step": int(step),
        "replayed": replay is not None,
        "from_loss": bool(from_loss),
        "births": listed,
        "births_total": len(births),
        "reason": reason,
        "text": text,
        "title": title,
    }
    return WatchForensics(info, graph, bytes(edge_norms), bytes(hists))


def _birth(b: Birth, node: str | None) -> dict[str, object]:
    return {
        "kind": b.kind,
        "phase": b.phase,
        "op": b.op_name,
        "where": b.site.where if b.site else None,
        "short": short_where(b.site) or None,
        "code": b.site.code if b.site else None,
        "detail": b.detail,
        "node": node,
    }


def _value(b: Birth) -> str:
    return "NaN" if b.kind == "nan" else "Inf"


def _words(
    step: int, births: Sequence[Birth], from_loss: bool, reason: str, replayed: bool
) -> tuple[str, str]:
    """(the banner's sentence, the replayed graph's title)."""
    if not replayed:
        why = reason[len(_NO_REPLAY_PREFIX) :] if reason.startswith(_NO_REPLAY_PREFIX) else reason
        why = why or "no reason given"
        return f"Step {step} was not replayed, so where the NaN/Inf was born is not known: {why}.", ""
    head = f"Replayed step {step}"
    if from_loss:
        text = (
            f"{head}: it came from the loss, outside the model (the model's output was finite; the gradient "
            "arriving at it was already NaN/Inf)" + (f"; {reason}." if reason else ".")
        )
        return text, f"Step {step}, replayed: the NaN/Inf came from the loss, outside the model"
    if not births:
        why = reason or "no op in the model made it"
        return (
            f"{head}, but where the NaN/Inf was born is not known: {why}.",
            f"Step {step}, replayed: no birth found",
        )
    b = births[0]
    at = f" at {short_where(b.site)}" if b.site else ""
    if b.phase == "forward":
        place, short = f"born in the forward of {b.op_name}", f"born in {b.op_name} (forward)"
    elif b.phase == "backward":
        place, short = f"born in the backward of {b.op_name}", f"born in the backward of {b.op_name}"
    else:  # "input": it came in with a value the traced code received
        place, short = f"first seen in an input of {b.op_name}", f"first seen in an input of {b.op_name}"
    text = f"{head}: the {_value(b)} was {place}{at}" + (f" — {b.detail}" if b.detail else "")
    more = len(births) - 1
    if more:
        text += f"; {more} more birth{'' if more == 1 else 's'} in the graph"
    if reason:
        text += f"; {reason}"
    return f"{text}.", f"Step {step}, replayed: {_value(b)} {short}{at}"
