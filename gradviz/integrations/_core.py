"""What every gradviz training callback does, whatever the framework calls its events.

A framework adapter (``transformers.py``, ``lightning.py``) calls, in this order::

    begin(model, optimizers, root)   training starts: watch the model, choose the log directory
    start_trace(model, optimizers)   the first micro-batch of the first optimizer step is about to run
    end_trace(exc=None)              its gradients are complete (all micro-batches), the update not yet run
    before_update()                  the same moment, every step (NaN forensics)
    after_step()                     after every optimizer update, before the gradients are zeroed
    close(exc=None)                  training ended (or raised)

``after_step`` feeds ``Monitor.step()``: the monitor takes no optimizer hooks here, because Accelerate
wraps the optimizer the Trainer steps. Lightning runs ``training_step`` and ``backward`` inside
``optimizer.step(closure)``: read after the update, ``.grad`` holds the closure's last evaluation, the one
``watch`` records for closure steps too (NOTE [closure steps] in ``gradviz/capture/_closure_steps.py``).
"""

from __future__ import annotations

import logging
import os
import sys
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypedDict, cast

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook

from gradviz._trace import Trace, trace
from gradviz._watch import Monitor, watch
from gradviz.integrations import _dangling
from gradviz.integrations._findings import adapter_parameters, format_findings, split_first_step, still_zero
from gradviz.records import Verdict

__all__ = ["CallbackRun", "logger"]

logger = logging.getLogger("gradviz")

REPORT_FILE = "first_step.txt"
PAGE_FILE = "first_step.html"


class _WatchArgs(TypedDict):
    every: int
    weights_every: int | None
    max_steps: int | None
    forensics: bool


class _Groups:
    """Several optimizers seen as one by ``trace`` (it reads ``param_groups`` only)."""

    def __init__(self, optimizers: Sequence[Any]) -> None:
        self.param_groups = [g for opt in optimizers for g in opt.param_groups]


class CallbackRun:
    """The state of one ``train()`` / ``fit()`` under a gradviz callback."""

    def __init__(
        self,
        *,
        every: int,
        weights_every: int | None,
        max_steps: int | None,
        params: Iterable[str] | Any,
        trace_first_step: bool,
        log_dir: str | os.PathLike[str] | None,
        recheck_steps: int,
        forensics: bool = False,
    ) -> None:
        if isinstance(recheck_steps, bool) or not isinstance(recheck_steps, int) or recheck_steps < 1:
            raise ValueError(f"recheck_steps must be an int >= 1, got {recheck_steps!r}.")
        if not isinstance(forensics, bool):
            raise TypeError(f"forensics must be True or False, got {forensics!r}.")
        self._watch_kwargs = _WatchArgs(
            every=every, weights_every=weights_every, max_steps=max_steps, forensics=forensics
        )
        self._params = params
        self.trace_first_step = trace_first_step
        self._log_dir_arg = log_dir
        self.recheck_steps = recheck_steps
        self.monitor: Monitor | None = None
        self.trace: Trace | None = None
        self.findings: dict[str, Verdict] = {}
        self.log_dir: Path | None = None
        self._model_name = ""
        self._running: Trace | None = None
        self._forward_handle: Any = None
        self._traced_model: weakref.ref[nn.Module] | None = None
        self._meant_to_train: set[str] = set()
        self._recheck: dict[str, Verdict] = {}
        self._pending = False
        self._steps = 0

    # -- lifecycle -------------------------------------------------------------------------------------

    def begin(self, model: nn.Module, optimizers: Sequence[Any], root: str | os.PathLike[str] | None) -> None:
        _dangling.close_all()  # a trace an earlier run left open when its step raised
        self.close()
        self.trace, self.findings, self._recheck, self._steps = None, {}, {}, 0
        self._model_name = type(model).__name__
        # Only the recording rank (0) writes; the others get log_dir=None from watch.
        log_dir = self._choose_log_dir(root)
        self.monitor = watch(model, params=self._params, log_dir=log_dir, **self._watch_kwargs)
        self.log_dir = self.monitor.log_dir
        self._pending = self.trace_first_step and self.monitor.recording

    def start_trace(self, model: nn.Module, optimizers: Sequence[Any]) -> None:
        """Start tracing the first training step (once per run; on the recording rank only)."""
        if not self._pending:
            return
        self._pending = False
        optimizer = optimizers[0] if len(optimizers) == 1 else (_Groups(optimizers) if optimizers else None)
        in_optimizer = {id(p) for opt in optimizers for g in opt.param_groups for p in g["params"]}
        named = list(model.named_parameters())
        self._meant_to_train = adapter_parameters(model) | {n for n, p in named if id(p) in in_optimizer}
        t = trace(model, cast("torch.optim.Optimizer | None", optimizer))  # _Groups: trace reads param_groups
        t.__enter__()
        self._running = t
        _dangling.register(self)
        # A forward that raises ends the trace there, so the exception leaves the model with gradviz's note.
        # A process-wide hook that picks the model out by identity, not a hook on the model: a copy of the
        # model made meanwhile (an EMA, torch.save(model)) must not carry it (NOTE [hooks on the model] in
        # gradviz/capture/_watch.py). The trace's own module hooks are process-wide too.
        self._traced_model = weakref.ref(model)
        self._forward_handle = register_module_forward_hook(self._forward_done, always_call=True)

    def _forward_done(self, module: nn.Module, args: Any, output: Any) -> None:
        if torch.compiler.is_compiling() or self._traced_model is None or module is not self._traced_model():
            return  # (dynamo reads through it while compiling, as through the trace's hooks)
        exc = sys.exc_info()[1]
        if exc is not None and self._running is not None:
            self.end_trace(exc)

    def end_trace(self, exc: BaseException | None = None) -> dict[str, Verdict] | None:
        """Stop the first-step trace (if running) and report what will not learn. Returns those findings."""
        t, self._running = self._running, None
        if t is None:
            return None
        if self._forward_handle is not None:
            self._forward_handle.remove()
            self._forward_handle = None
        self._traced_model = None
        _dangling.unregister(self)
        error = exc if isinstance(exc, Exception) else None
        t.__exit__(type(error) if error else None, error, error.__traceback__ if error else None)
        self.trace = t
        now, self._recheck = split_first_step(t.verdicts, self._meant_to_train)
        self.findings.update(now)
        self._write_trace_files(t)
        full = f"full report: {os.fspath(self.log_dir / REPORT_FILE)}" if self.log_dir else ""
        if now:
            n = len(now)
            title = (
                f"gradviz: {n} parameter{'s' if n != 1 else ''} of {self._model_name} will not learn "
                "(the first training step, traced):"
            )
            names = list(t.verdicts)
            logger.warning(format_findings(title, now, everything=names) + (f"\n  {full}" if full else ""))
        else:
            deferred = (
                f"; {len(self._recheck)} with a zero gradient, checked again later" if self._recheck else ""
            )
            logger.info(
                f"gradviz: first training step traced: {t!r}{deferred}" + (f"; {full}" if full else "")
            )
        return now

    def before_update(self) -> None:
        """The gradients of this optimizer step are complete and the update has not run: with forensics,
        a first NaN/Inf gradient is replayed now (``monitor.first_nonfinite``)."""
        if self.monitor is not None and not self.monitor.closed:
            self.monitor._before_update()

    def after_step(self) -> None:
        """After an optimizer update: record the step; recheck first-step zero gradients when due."""
        if self.monitor is None or self.monitor.closed:
            return
        self.monitor.step()
        self._steps += 1
        if self._recheck and self._steps >= self.recheck_steps:
            self._check_zero()

    def _check_zero(self) -> None:
        candidates, self._recheck = self._recheck, {}
        if self.monitor is None or not self.monitor.recording:
            return
        found = still_zero(self.monitor.history, candidates)
        if found:
            self.findings.update(found)
            n = len(found)
            title = (
                f"gradviz: {n} parameter{'s' if n != 1 else ''} of {self._model_name} will not learn "
                f"(a zero gradient on every step so far):"
            )
            logger.warning(format_findings(title, found))

    def close(self, exc: BaseException | None = None) -> None:
        """End the trace (with the exception that stopped training, if any) and the monitor. Safe twice."""
        try:
            self.end_trace(exc)
            if self._recheck and self._steps:
                self._check_zero()
        finally:
            if self.monitor is not None:
                self.monitor.close()

    # -- files -----------------------------------------------------------------------------------------

    def _choose_log_dir(self, root: str | os.PathLike[str] | None) -> Path | None:
        if self._log_dir_arg is None:
            return None
        base = Path(self._log_dir_arg)
        if not base.is_absolute() and root is not None:
            base = Path(root) / base
        n = 1
        while (base / f"run-{n}").exists():
            n += 1
        return base / f"run-{n}"

    def _write_trace_files(self, t: Trace) -> None:
        if self.log_dir is None:
            return
        try:
            (self.log_dir / REPORT_FILE).write_text(t.report() + "\n", encoding="utf-8")
            t.save_html(self.log_dir / PAGE_FILE)
        except OSError as err:  # a full disk must not stop training
            logger.warning(f"gradviz: could not write the first-step report into {self.log_dir}: {err}")


class Results:
    """What a callback exposes after (or during) a run, read from its ``_run``: shared by the Trainer and
    Lightning callbacks."""

    _run: CallbackRun

    @property
    def monitor(self) -> Monitor | None:
        """The :class:`gradviz.Monitor` of the last run (None before it)."""
        return self._run.monitor

    @property
    def trace(self) -> Trace | None:
        """The traced first step of the last run (None before it, or with trace_first_step=False)."""
        return self._run.trace

    @property
    def findings(self) -> dict[str, Verdict]:
        """What was reported as not learning, by parameter name."""
        return dict(self._run.findings)

    @property
    def log_dir(self) -> Path | None:
        """Where this run is written (None on the ranks that do not record, or with log_dir=None)."""
        return self._run.log_dir

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        if self.monitor is None:
            return {"text/plain": repr(self)}
        return self.monitor._repr_mimebundle_(include=include, exclude=exclude)

    def __repr__(self) -> str:
        return (
            f"<GradvizCallback {self.monitor!r}>"
            if self.monitor is not None
            else "<GradvizCallback (not run)>"
        )
