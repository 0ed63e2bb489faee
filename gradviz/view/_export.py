"""A trace's verdicts as data (``Trace.to_dict()`` / ``Trace.to_json()``): one documented, versioned schema.

Schema ``gradviz-verdicts``, version 1 (a reader should refuse a version it does not know)::

    {"schema": "gradviz-verdicts", "version": 1,
     "model": "GPT" | null,
     "summary": "GPT: 149 tensors checked: 145 learn, 4 will not learn",
     "counts": {"ok": 145, "red": 4, "zero": 0, "nonfinite": 0, "frozen": 0},
     "learns": false,                    # every tensor ok or frozen
     "tensors": [{"name": "blocks.5.mlp.0.weight", "cause": "detach",
                  "severity": "red",     # ok | red (will not learn) | zero | nonfinite | frozen
                  "where": "train.py:42" | null, "message": "...", "fix": "...",
                  "grad_norm": 0.013 | "nan" | "inf" | "-inf" | null}, ...],
     "births": [{"kind": "nan" | "inf", "phase": "forward" | "backward" | "input", "op": "softmax",
                 "where": "model.py:31" | null, "code": "att = F.softmax(att, dim=-1)", "detail": "..."}],
     "error": {"type": "RuntimeError", "message": "...", "where": "train.py:50" | null,
               "blame": "train.py:44" | null} | null}

A watched run's summary (``Monitor.to_dict()``, ``Run.to_dict()`` of ``gradviz.open``), schema
``gradviz-run-summary``, version 1::

    {"schema": "gradviz-run-summary", "version": 1, "model": "GPT" | null, "optimizer": "AdamW" | null,
     "parameters": ["wte.weight", ...], "steps_recorded": 200,
     "first_step": 0 | null, "last_step": 199 | null,
     "last_step_counts": {"learn": 145, "nonfinite": 3, ...},   # a Health per parameter at the last step
     "problems": [{"kind": "nonfinite", "title": "NaN/Inf gradients",
                   "text": "At step 60, all 148 parameters went NaN/Inf at once.",
                   "parameters": ["wte.weight", ...], "step": 60}],   # as the watch view's banner says them
     "first_nonfinite": {"step": 60, "parameter": "wte.weight"} | null}

Tensors are in the trace's order (the model's parameters first). ``cause`` is a :class:`gradviz.Cause`
value. Numbers are plain JSON numbers; a non-finite norm is the string "nan", "inf" or "-inf" (as the
widget's wire carries it), so that the JSON is strict (no NaN literal).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from gradviz.records import Capture, History, Site, Verdict
from gradviz.view._report import SEVERITIES, summary_line
from gradviz.view._watch_problems import problem_lines
from gradviz.view._watch_summary import step_counts

__all__ = ["RUN_SCHEMA", "SCHEMA", "VERSION", "run_summary_dict", "verdicts_dict", "verdicts_json"]

SCHEMA = "gradviz-verdicts"
RUN_SCHEMA = "gradviz-run-summary"
VERSION = 1  # of both


def wire_number(x: float | None) -> float | str | None:
    """JSON has no NaN/Inf: they go as the strings "nan", "inf", "-inf" (the widget reads them so too)."""
    if x is None or math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def verdict_row(v: Verdict) -> dict[str, Any]:
    """One tensor's verdict as plain data: the schema's ``tensors`` row, and the widget's."""
    return {
        "name": v.name,
        "cause": v.cause.value,
        "severity": v.cause.severity,
        "where": v.where,
        "message": v.message,
        "fix": v.fix,
        "grad_norm": wire_number(v.grad_norm),
    }


def _where(site: Site | None) -> str | None:
    return site.where if site is not None else None


def verdicts_dict(cap: Capture, verdicts: dict[str, Verdict]) -> dict[str, Any]:
    """The schema above, for a capture and its verdicts (plain data in, plain data out)."""
    counts = {s: sum(v.cause.severity == s for v in verdicts.values()) for s in SEVERITIES}
    error = cap.error
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "model": cap.model_name or None,
        "summary": summary_line(cap, verdicts),
        "counts": counts,
        "learns": all(v.cause.severity in ("ok", "frozen") for v in verdicts.values()),
        "tensors": [verdict_row(v) for v in verdicts.values()],
        "births": [
            {
                "kind": b.kind,
                "phase": b.phase,
                "op": b.op_name,
                "where": _where(b.site),
                "code": b.site.code if b.site is not None else "",
                "detail": b.detail,
            }
            for b in cap.births
        ],
        "error": None
        if error is None
        else {
            "type": error.type,
            "message": error.message,
            "where": _where(error.site),
            "blame": _where(error.blame),
        },
    }


def verdicts_json(cap: Capture, verdicts: dict[str, Verdict], indent: int | None = None) -> str:
    """:func:`verdicts_dict` as strict JSON (no NaN literals)."""
    return json.dumps(verdicts_dict(cap, verdicts), indent=indent, allow_nan=False, ensure_ascii=False)


def run_summary_dict(
    history: History,
    frozen: Sequence[bool] | None = None,
    model: str | None = None,
    optimizer: str | None = None,
) -> dict[str, Any]:
    """The run-summary schema above, for a watched run's history (plain data in, plain data out)."""
    n = len(history)
    counts = {str(h.value): c for h, c in step_counts(history, -1, frozen).items()} if n else {}
    problems = problem_lines(history, frozen) if n else []
    first = history.first_nonfinite
    return {
        "schema": RUN_SCHEMA,
        "version": VERSION,
        "model": model or None,
        "optimizer": optimizer or None,
        "parameters": list(history.names),
        "steps_recorded": n,
        "first_step": int(history.steps[0]) if n else None,
        "last_step": int(history.steps[-1]) if n else None,
        "last_step_counts": counts,
        "problems": [
            {
                "kind": p.kind,
                "title": p.title,
                "text": p.text,
                "parameters": [history.names[c] for c in p.columns],
                "step": int(history.steps[p.row]) if 0 <= p.row < n else None,
            }
            for p in problems
        ],
        "first_nonfinite": None if first is None else {"step": int(first[0]), "parameter": first[1]},
    }
