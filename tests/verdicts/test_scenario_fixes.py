"""Fixes that must not be given: advice that would break a deliberate design (train a DQN's target network,
remove the .detach() of a straight-through estimator, move a teacher out of no_grad).

A scenario lists them as ``AVOID = {"name": ["substring", ...]}``: none of those may appear in that verdict's
message or fix (compared lowercase). ``tests/test_scenarios.py`` checks what the text must say (``MESSAGE``);
this checks what it must not, on the same runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
from scenarios._corpus import Recorder, Scenario, load_all  # noqa: E402

GUARDED = [sc for sc in load_all() if getattr(sc.module, "AVOID", None)]


def test_the_corpus_guards_the_designs() -> None:
    stems = {sc.name.split("_")[1] for sc in GUARDED if sc.name.startswith("intent_")}
    assert {"dqn", "gan", "prompt", "distillation", "vq", "lora"} <= stems, sorted(stems)


@pytest.mark.parametrize("sc", GUARDED, ids=[s.name for s in GUARDED])
def test_no_fix_breaks_the_design(sc: Scenario) -> None:
    import gradviz

    avoid: dict[str, list[str]] = sc.module.AVOID
    assert set(avoid) <= set(sc.expect), f"{sc.name}: AVOID names tensors EXPECT does not"
    rec = Recorder(gradviz.trace)
    if sc.raises is not None:
        with pytest.raises(sc.raises):
            sc.run(rec)
    else:
        sc.run(rec)
    verdicts = rec.calls[0].trace.verdicts
    said = []
    for name, words in avoid.items():
        text = f"{verdicts[name].message} {verdicts[name].fix}".lower()
        said += [f"{name}: says {w!r}: {verdicts[name].fix}" for w in words if w.lower() in text]
    assert not said, "\n".join(said)
