"""``History.to_tensorboard``: a watched run read back with TensorBoard's own event reader."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import gradviz

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _read(log_dir):
    acc = event_accumulator.EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def _watched_run() -> tuple[gradviz.History, dict[int, dict[str, float | None]]]:
    """Six steps; the loss is NaN at step 4, so from then on every gradient is NaN. ``head2`` is unused.
    Returns the history and, per step, each gradient's norm read with plain torch (None: no gradient or
    not finite)."""
    torch.manual_seed(0)
    model = nn.ModuleDict({"body": nn.Linear(3, 4), "head": nn.Linear(4, 1), "head2": nn.Linear(4, 1)})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    truth = {}
    with gradviz.watch(model, optimizer=opt, weights_every=2) as mon:
        for step in range(6):
            opt.zero_grad()
            loss = model["head"](model["body"](torch.randn(5, 3))).pow(2).mean()
            (loss * (float("nan") if step == 4 else 1.0)).backward()
            truth[step] = {
                n: float(p.grad.norm()) if p.grad is not None and torch.isfinite(p.grad).all() else None
                for n, p in model.named_parameters()
            }
            opt.step()
    return mon.history, truth


def test_scalars_per_parameter_and_the_first_nonfinite_step_as_text(tmp_path) -> None:
    history, truth = _watched_run()
    assert history.first_nonfinite == (4, "body.weight")
    out = history.to_tensorboard(tmp_path / "tb")
    acc = _read(out)

    for name in history.names:
        points = {e.step: e.value for e in acc.Scalars(f"grad_norm/{name}")} if truth[0][name] else {}
        expected = {s: norms[name] for s, norms in truth.items() if norms[name] is not None}
        assert points.keys() == expected.keys(), name  # no point where .grad was None or NaN
        for step, value in expected.items():
            assert points[step] == pytest.approx(value, rel=1e-5)
    assert "grad_norm/head2.weight" not in acc.Tags()["scalars"]  # never had a gradient

    for key in ("param_norm", "update_ratio"):  # weight steps only: 0, 2, 4 (4 has no finite update)
        steps = [e.step for e in acc.Scalars(f"{key}/body.weight")]
        col = history.index("body.weight")
        assert steps == [int(s) for s, v in zip(history.steps, getattr(history, key)[:, col], strict=True)
                         if math.isfinite(v)]  # fmt: skip
        assert steps and set(steps) <= {0, 2, 4}

    none = {e.step: e.value for e in acc.Scalars("gradients/none")}
    nonfinite = {e.step: e.value for e in acc.Scalars("gradients/nonfinite")}
    assert none == dict.fromkeys(range(6), 2)  # head2's weight and bias
    assert nonfinite == {s: (4 if s >= 4 else 0) for s in range(6)}

    (text,) = acc.Tensors("gradviz/first_nonfinite/text_summary")
    assert text.step == 4 and b"body.weight" in text.tensor_proto.string_val[0]


def test_a_saved_history_exports_the_same(tmp_path) -> None:
    history, _ = _watched_run()
    history.save(tmp_path / "run.npz")
    loaded = gradviz.History.load(tmp_path / "run.npz")
    a, b = _read(history.to_tensorboard(tmp_path / "a")), _read(loaded.to_tensorboard(tmp_path / "b"))
    assert a.Tags()["scalars"] == b.Tags()["scalars"]
    for tag in a.Tags()["scalars"]:
        assert [(e.step, e.value) for e in a.Scalars(tag)] == [(e.step, e.value) for e in b.Scalars(tag)]
    np.testing.assert_array_equal(history.grad_norm, loaded.grad_norm)
