"""The Lightning callback's behaviour, shared by ``lightning.pytorch`` and ``pytorch_lightning``.

The two packages define distinct ``Callback`` classes (a Trainer accepts only its own), so each public
module subclasses its package's ``Callback`` with this mixin.

Lightning's automatic optimization runs ``training_step``, ``zero_grad`` and ``backward`` inside
``optimizer.step(closure)``, then calls ``on_before_optimizer_step`` (gradients complete and unscaled,
before the update), then the update, then ``on_train_batch_end``. With ``accumulate_grad_batches=k`` the
first k-1 micro-batches run their closure outside ``optimizer.step``; ``on_before_optimizer_step`` comes
once per optimizer step, after the k-th.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from gradviz.integrations._core import CallbackRun, Results

__all__ = ["LightningGradviz"]


class LightningGradviz(Results):
    """Watch gradient health at every optimizer step; trace the first step and say what will not learn.

    - Every optimizer step (``every=N``: every N-th) records each parameter's gradient norm and state
      (None / zero / finite / NaN-Inf) after all accumulated micro-batches, and every ``weights_every``-th
      recorded step the weight norms and update ratios: ``callback.monitor`` (a :class:`gradviz.Monitor`;
      displayed in a notebook, the widget).
    - The first optimizer step runs under :func:`gradviz.trace`, from its first micro-batch up to the
      update: ``callback.trace``. What will not learn is logged at once on the ``gradviz`` logger (a
      warning): unused parameters, paths cut by ``.detach()`` / ``no_grad`` / ..., parameters no optimizer
      holds, a frozen PEFT adapter, NaN/Inf. Frozen parameters no optimizer holds are taken as frozen on
      purpose; a gradient exactly zero at the first step is reported only if it stays zero for
      ``recheck_steps`` steps. ``callback.findings``: what was reported. If the step raises, the exception
      carries gradviz's note (the cause, your line, the fix).
    - ``log_dir`` (default ``"gradviz"``, relative to ``trainer.default_root_dir``): each fit writes
      ``<log_dir>/run-<n>/`` (what ``gradviz.open`` shows) with ``first_step.txt`` and
      ``first_step.html``. ``None``: no files.
    - ``forensics=True``: the first optimizer step whose gradient is NaN/Inf is replayed under
      :func:`gradviz.trace` before the update (``watch(..., forensics=True)``):
      ``callback.monitor.first_nonfinite`` says which op made it, forward or backward, at your line.
    - DDP: rank 0 records, traces and writes. Mixed precision (``bf16-mixed``, ``16-mixed``): gradients are
      read unscaled. Numerics are unchanged.
    """

    def __init__(
        self,
        *,
        every: int = 1,
        weights_every: int | None = 100,
        max_steps: int | None = 2048,
        params: Iterable[str] | Any = None,
        trace_first_step: bool = True,
        log_dir: str | os.PathLike[str] | None = "gradviz",
        recheck_steps: int = 10,
        forensics: bool = False,
    ) -> None:
        super().__init__()
        self._run = CallbackRun(
            every=every,
            weights_every=weights_every,
            max_steps=max_steps,
            params=params,
            trace_first_step=trace_first_step,
            log_dir=log_dir,
            recheck_steps=recheck_steps,
            forensics=forensics,
        )
        self._stepped = False

    # -- results -----------------------------------------------------------------------------------------

    def close(self) -> None:
        """End the trace and the monitor now (done when ``fit()`` ends or raises)."""
        self._run.close()

    # -- Lightning hooks -----------------------------------------------------------------------------------

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._stepped = False
        self._run.begin(pl_module, list(trainer.optimizers), trainer.default_root_dir)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self._run.start_trace(pl_module, list(trainer.optimizers))

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        self._run.end_trace()
        self._run.before_update()
        self._stepped = True

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._stepped:  # an optimizer step ran in this batch (the last of an accumulation window)
            self._stepped = False
            self._run.after_step()

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._run.close()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._run.close(exception)
