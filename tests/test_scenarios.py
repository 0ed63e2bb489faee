"""gradviz against the scenario corpus: every case's verdicts (cause and where) and exception notes.

Each scenario in ``tests/scenarios/`` runs with a recording wrapper around ``gradviz.trace``, so the trace
object is available even when the ``with`` block raised. The torch ground truth of the same scenarios is
checked, without gradviz, by ``test_scenarios_truth.py``.

gradviz is imported inside the tests, not at module level: the corpus always collects, and a missing or broken
engine fails every case loudly instead of skipping any.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from torch import nn

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from scenarios._corpus import CAUSES, Recorder, Scenario, load_all  # noqa: E402

SCENARIOS = load_all()


def _fmt(v: Any) -> str:
    return (
        f"cause={getattr(v, 'cause', '?')!s} where={getattr(v, 'where', '?')!r}\n"
        f"        message={getattr(v, 'message', '?')!r}\n        fix={getattr(v, 'fix', '?')!r}"
    )


def _table(verdicts: dict[str, Any]) -> str:
    return "\n".join(f"  {name}: {_fmt(v)}" for name, v in verdicts.items()) or "  (no verdicts)"


def test_cause_vocabulary_matches_engine():
    import gradviz

    assert {c.value for c in gradviz.Cause} == set(CAUSES), (
        "the corpus cause list (tests/scenarios/_corpus.py CAUSES) and gradviz.Cause disagree"
    )


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(sc: Scenario):
    import gradviz

    rec = Recorder(gradviz.trace)
    exc: BaseException | None = None
    if sc.raises is not None:
        with pytest.raises(sc.raises) as info:
            sc.run(rec)
        exc = info.value
    else:
        sc.run(rec)

    assert len(rec.calls) == 1, f"{sc.name}: expected exactly one trace(...) call, got {len(rec.calls)}"
    call = rec.calls[0]
    t = call.trace
    assert hasattr(t, "verdicts"), f"{sc.name}: trace(...) returned {type(t).__name__} without .verdicts"
    verdicts = dict(t.verdicts)
    context = f"\n{sc.name}: {sc.doc.splitlines()[0]}\nall verdicts:\n{_table(verdicts)}"

    problems: list[str] = []

    if exc is not None:
        notes = "\n".join(getattr(exc, "__notes__", []) or [])
        for alternatives in sc.note:
            if not any(alt in notes.lower() for alt in alternatives):
                want = " or ".join(repr(a) for a in alternatives)
                problems.append(f"note lacks {want}")
        if problems:
            problems.append(f"exception: {type(exc).__name__}: {str(exc)[:200]}\nnotes: {notes!r}")

    missing = set(sc.expect) - set(verdicts)
    if missing:
        problems.append(f"no verdict for {sorted(missing)}")

    target = call.target
    if isinstance(target, nn.Module):
        unjudged = [name for name, _ in target.named_parameters() if name not in verdicts]
        if unjudged:
            problems.append(f"named_parameters() without a verdict: {unjudged}")

    for name, exp in sc.expect.items():
        v = verdicts.get(name)
        if v is None:
            continue
        if not isinstance(v.cause, gradviz.Cause):
            problems.append(f"{name}: cause {v.cause!r} is not a gradviz.Cause")
        if v.cause != exp.cause:
            problems.append(f"{name}: cause {v.cause!s}, expected {exp.cause} (where {v.where!r})")
        if not exp.where_matches(v.where):
            problems.append(f"{name}: where {v.where!r}, expected {exp.describe_where()} (cause {v.cause!s})")
        for alternatives in sc.message.get(name, ()):
            text = f"{v.message} {v.fix}".lower()
            if not any(alt in text for alt in alternatives):
                problems.append(f"{name}: message and fix lack {' or '.join(map(repr, alternatives))}")

    for name, v in verdicts.items():
        if name in sc.expect:
            continue
        if v.cause != "ok":
            problems.append(f"false alarm on {name} (not in EXPECT, must be ok): {_fmt(v)}")

    assert not problems, "\n".join(problems) + context
