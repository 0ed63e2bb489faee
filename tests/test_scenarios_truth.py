"""Ground truth of the scenario corpus against plain torch, with no gradviz at all.

``trace`` is a do-nothing stand-in here, so each scenario runs as ordinary torch code. This checks that every
scenario really raises what RAISES says and that every tensor's ``.grad`` after the run is what GRADS says,
and that EXPECT is consistent with that truth (an ``ok`` parameter has a non-zero gradient, a ``detach``ed one
has none, ...). If torch changes behaviour, this file fails before the engine is blamed.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from scenarios._corpus import CAUSE_GRADS, Recorder, Scenario, grad_state, load_all, resolve  # noqa: E402

SCENARIOS = load_all()


class _NoTrace:
    """Accepts every call form of ``gradviz.trace`` and does nothing (with ``fresh``: sets every ``.grad`` of
    the traced model or tensors to None as the block begins, so ``.grad`` afterwards is what its backward
    delivered)."""

    fresh = False

    def __init__(self, target: Any = None, *args: Any, **kwargs: Any) -> None:
        self.target = target
        self.kwargs = kwargs
        self.verdicts: dict[str, Any] = {}

    def __enter__(self) -> _NoTrace:
        if self.fresh:
            tensors = (
                self.target.parameters()
                if isinstance(self.target, nn.Module)
                else self.target.values()
                if isinstance(self.target, dict)
                else ()
            )
            for t in tensors:
                t.grad = None
        return self

    def __exit__(self, *exc: object) -> bool:
        return False


def test_corpus_is_not_empty():
    assert len(SCENARIOS) >= 40, [s.name for s in SCENARIOS]


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_torch_truth(sc: Scenario):
    rec = Recorder(type("_Fresh", (_NoTrace,), {"fresh": True}) if sc.fresh else _NoTrace)
    if sc.raises is not None:
        with pytest.raises(sc.raises):
            sc.run(rec)
        result = None
    else:
        result = sc.run(rec)

    assert len(rec.calls) == 1, f"{sc.name}: expected exactly one trace(...) call, got {len(rec.calls)}"
    target = rec.calls[0].target
    subject = result if result is not None else target
    assert subject is not None, f"{sc.name}: run() returned nothing and traced nothing to read GRADS from"

    actual = {name: grad_state(resolve(subject, name)) for name in sc.grads}
    wrong = {name: (want, actual[name]) for name, want in sc.grads.items() if actual[name] != want}
    assert not wrong, f"{sc.name}: GRADS differ from torch (name: (GRADS says, torch gives)): {wrong}"

    if sc.loss_nonfinite:
        loss = result.get("loss") if isinstance(result, dict) else None
        assert isinstance(loss, torch.Tensor) and not bool(torch.isfinite(loss).all()), (
            f"{sc.name}: LOSS_NONFINITE, but run() returned no non-finite 'loss': {loss!r}"
        )

    for name in sc.stepped:  # an optimizer step used the gradient before zero_grad removed it: it moved
        param = resolve(subject, name)
        initial = getattr(param, "initial", None)
        assert initial is not None and not torch.equal(initial, param), f"{sc.name}: {name} did not move"

    for name in sc.consumed:  # an optimizer step inside backward took the gradient: it was what EXPECT says
        norm = getattr(resolve(subject, name), "consumed_norm", None)
        assert norm is not None, f"{sc.name}: the hook recorded no consumed_norm for {name}"
        seen = "nonfinite" if not math.isfinite(norm) else "zero" if norm == 0 else "nonzero"
        want = {"nonfinite": "nonfinite", "zero": "zero"}.get(sc.expect[name].cause, "nonzero")
        assert seen == want, f"{sc.name}: the hook consumed a {seen} gradient of {name}; EXPECT needs {want}"

    # EXPECT must agree with the truth: the cause of each name allows the grad state torch produced.
    for name, exp in sc.expect.items():
        allowed = CAUSE_GRADS[exp.cause]
        if name in sc.consumed or name in sc.stepped:  # used by a step, then removed or zeroed
            allowed = frozenset({"none", "zero"})
        if name in sc.partial:  # the backward raised after part of it arrived: .grad holds that part
            assert sc.raises is not None, f"{sc.name}: PARTIAL needs a step that raises"
            allowed = frozenset({"nonzero", "zero", "nonfinite"}) if exp.cause == "error" else allowed
        if sc.loss_nonfinite and exp.cause == "nonfinite":
            allowed = frozenset({"nonfinite", "nonzero", "zero"})  # the loss is what is not finite
        assert allowed is None or actual[name] in allowed, (
            f"{sc.name}: EXPECT says {name} is {exp.cause!r}, but torch leaves its .grad {actual[name]!r}"
        )

    # Parameters not named in EXPECT must be healthy (the runner asserts gradviz says ok for them).
    if isinstance(target, nn.Module):
        unlisted = {name: grad_state(p) for name, p in target.named_parameters() if name not in sc.expect}
        unhealthy = {name: state for name, state in unlisted.items() if state != "nonzero"}
        assert not unhealthy, (
            f"{sc.name}: parameters absent from EXPECT must really be ok, but torch gives: {unhealthy}"
        )
