"""A watched run as TensorBoard scalars, for teams whose dashboards already live there.

>>> mon.history.to_tensorboard("runs/tb")            # doctest: +SKIP
>>> gradviz.open("runs/exp1").history.to_tensorboard("runs/tb")   # a recorded run, later  # doctest: +SKIP

Tags (TensorBoard groups them by the part before the first ``/``), one point per recorded step::

    grad_norm/<parameter>      L2 norm of .grad; no point where .grad was None or NaN/Inf
    param_norm/<parameter>     on weight steps only (watch's ``weights_every``)
    update_ratio/<parameter>   on weight steps only
    gradients/none, gradients/zero, gradients/nonfinite   how many parameters were in that state
    gradviz/first_nonfinite    text, at that step: the first parameter whose gradient was NaN/Inf

Needs the ``tensorboard`` package (``pip install torch-gradviz[tensorboard]``); the files are written
with ``torch.utils.tensorboard.SummaryWriter``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gradviz.records import GradState, History

__all__ = ["write_history"]

_PER_PARAMETER = ("grad_norm", "param_norm", "update_ratio")


def write_history(history: History, log_dir: str | os.PathLike[str]) -> Path:
    """Write ``history`` as TensorBoard event files in ``log_dir`` (created if needed); returns it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:  # torch raises this when the tensorboard package is missing
        raise ImportError(
            "History.to_tensorboard needs the tensorboard package: pip install tensorboard "
            "(or pip install torch-gradviz[tensorboard])."
        ) from err
    path = Path(log_dir)
    writer = SummaryWriter(log_dir=os.fspath(path))
    try:
        steps = history.steps.tolist()
        finite_grad = (history.state == GradState.finite) | (history.state == GradState.zero)
        for key in _PER_PARAMETER:
            values = getattr(history, key)
            valid = np.isfinite(values) & (finite_grad if key == "grad_norm" else True)
            for col, name in enumerate(history.names):
                for row in np.flatnonzero(valid[:, col]).tolist():
                    writer.add_scalar(f"{key}/{name}", float(values[row, col]), steps[row])
        for state in (GradState.none, GradState.zero, GradState.nonfinite):
            counts = (history.state == state).sum(axis=1)
            for row, count in enumerate(counts.tolist()):
                writer.add_scalar(f"gradients/{state.name}", count, steps[row])
        if history.first_nonfinite is not None:
            step, name = history.first_nonfinite
            writer.add_text(
                "gradviz/first_nonfinite", f"step {step}: `{name}` had the first NaN/Inf gradient", step
            )
    finally:
        writer.close()
    return path
