"""gradviz for the Hugging Face ``transformers.Trainer``.

>>> from gradviz.integrations.transformers import GradvizCallback   # doctest: +SKIP
>>> cb = GradvizCallback()                                          # doctest: +SKIP
>>> trainer = Trainer(model, args, train_dataset=ds, callbacks=[cb]) # doctest: +SKIP
>>> trainer.train()                                                 # doctest: +SKIP
>>> cb.monitor          # in a notebook: the watch widget (heatmap, charts, graph)   # doctest: +SKIP
>>> cb.trace            # the first training step, traced: the graph, problems in red  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from transformers import TrainerCallback

from gradviz.integrations import _dangling
from gradviz.integrations._core import CallbackRun, Results

__all__ = ["GradvizCallback"]


def _torch_optimizer(optimizer: Any) -> Any:
    """The torch optimizer inside Accelerate's ``AcceleratedOptimizer`` (and similar wrappers)."""
    seen = 0
    while optimizer is not None and hasattr(optimizer, "optimizer") and seen < 4:
        optimizer, seen = optimizer.optimizer, seen + 1
    return optimizer


class GradvizCallback(Results, TrainerCallback):
    """Watch gradient health at every optimizer step; trace the first step and say what will not learn.

    - Every optimizer step (``every=N``: every N-th) records each parameter's gradient norm and state
      (None / zero / finite / NaN-Inf) after all accumulated micro-batches, and every ``weights_every``-th
      recorded step the weight norms and update ratios: ``callback.monitor`` (a :class:`gradviz.Monitor`;
      displayed in a notebook, the widget).
    - The first optimizer step runs under :func:`gradviz.trace` (every micro-batch of it, up to the
      update): ``callback.trace``. What will not learn is logged at once on the ``gradviz`` logger (a
      warning): unused parameters, paths cut by ``.detach()`` / ``no_grad`` / ..., a head the optimizer
      does not hold, a frozen PEFT adapter (LoRA loaded without ``is_trainable=True``), NaN/Inf. Frozen
      parameters that nothing meant to train (a fine-tune's base model) are not reported; a gradient that
      is exactly zero at the first step (LoRA's ``lora_A`` while ``lora_B`` is still zero) is reported only
      if it stays zero for ``recheck_steps`` steps. ``callback.findings``: what was reported.
    - ``log_dir`` (default ``"gradviz"``, relative to ``args.output_dir``): each run writes
      ``<log_dir>/run-<n>/``, the crash-safe record ``gradviz.open`` shows, plus ``first_step.txt`` (the
      trace's report) and ``first_step.html`` (its graph, standalone). ``None``: no files.
    - Distributed (DDP): rank 0 records, traces and writes; the other ranks only count steps.
    - Mixed precision: bf16 autocast and fp16 with a gradient scaler both work: gradients are read after
      the Trainer unscales and clips them, right after the update.
    - Numerics are unchanged: training with and without the callback is bitwise identical.
    - ``forensics=True``: the first optimizer step whose gradient is NaN/Inf is replayed under
      :func:`gradviz.trace` before the update (``watch(..., forensics=True)``):
      ``callback.monitor.first_nonfinite`` says which op made it, forward or backward, at your line.
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
        self._model: Any = None
        self._optimizers: list[Any] = []

    # -- results -----------------------------------------------------------------------------------------

    def close(self) -> None:
        """End the trace and the monitor now (done at the end of ``train()``; needed only after it raised)."""
        self._run.close(sys.exc_info()[1])

    # -- Trainer events ----------------------------------------------------------------------------------

    def on_init_end(self, args: Any, state: Any, control: Any, **kw: Any):
        _dangling.close_all()  # a trace an earlier train() left open when its first step raised

    def on_train_begin(
        self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None, **kw: Any
    ):
        if model is None:
            raise RuntimeError("GradvizCallback: the Trainer passed no model to on_train_begin.")
        self._model = model
        self._optimizers = [_torch_optimizer(optimizer)] if optimizer is not None else []
        self._run.begin(model, self._optimizers, args.output_dir)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any):
        # called at the first micro-batch of each optimizer step
        self._run.start_trace(self._model, self._optimizers)

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any):
        # every micro-batch has run backward, gradients are unscaled and clipped; the update comes next
        self._run.end_trace()
        self._run.before_update()

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any):
        # after the update, before model.zero_grad()
        self._run.after_step()

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any):
        self._run.close()
