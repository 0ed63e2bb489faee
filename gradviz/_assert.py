"""``gradviz.assert_learns(model, step)``: a unit test of a training step that fails with the cause, the
line and the fix of each parameter that will not learn (``gradviz/view/_assertion.py`` says what passes)::

    def test_the_step_trains_every_parameter():
        model, opt = build()
        gradviz.assert_learns(model, lambda: train_step(model, opt, batch), optimizer=opt)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gradviz._trace import NotLearningError, Trace, trace

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["NotLearningError", "assert_learns"]


def assert_learns(
    model: nn.Module,
    step: Callable[[], Any],
    *,
    optimizer: torch.optim.Optimizer | None = None,
    allow: Any = None,
) -> Trace:
    """Run ``step()`` (a forward and a backward, optionally ``optimizer.step()``) under ``gradviz.trace``
    and raise :class:`NotLearningError` if a parameter of ``model`` will not learn; return the trace.

    An exception ``step()`` raises is raised as it is (the trace's verdicts say why, in ``__notes__``).
    """
    if not callable(step):
        raise TypeError(f"step must be a function that runs one training step; got {type(step).__name__}.")
    t = trace(model, optimizer)
    try:
        with t:
            step()
    except Exception as exc:
        note = getattr(exc, "add_note", None)  # Python 3.11+
        if note is not None:
            with contextlib.suppress(Exception):  # a courtesy: the user's exception goes on unchanged
                note(t.report())
        raise
    t.assert_learns(allow)
    return t
