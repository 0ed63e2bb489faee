"""``gradviz.watch``'s running monitor: the recorder's hooks and rows, the live view, the run on disk, the
first NaN/Inf's replay, ``close()``; and the graph of its first backward as widget state."""

from __future__ import annotations

import json
import os
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
import torch

from gradviz import view
from gradviz._args import check_count, check_optimizer, check_path, select_params
from gradviz._forensics import FirstNonfinite, Forensics
from gradviz.capture import (
    Recorder,
    any_sharded,
    capture_graph,
    holds_compiled,
    model_name,
    rank,
    read_values,
    records_on,
    unwrap,
    world_size,
)
from gradviz.records import GradState, Headroom, History
from gradviz.runlog import LoggedSteps, RunWriter, rank_dir
from gradviz.verdicts import decide

_PUSH_INTERVAL = 0.5  # seconds between live widget updates while training

__all__ = ["Monitor", "ParamFilter", "Ranks", "watch_graph_state"]

ParamFilter = Callable[[str, torch.nn.Parameter], bool]
Ranks = int | Sequence[int] | Literal["all"]


class Monitor:
    """A running :func:`watch`: its ``history``, ``step()``, ``close()``; displayed, the widget."""

    graph: tuple[dict, bytes, bytes] | None
    """The autograd graph of the first backward pass, as widget state (None until it is captured)."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        every: int = 1,
        weights_every: int | None = 100,
        max_steps: int | None = 2048,
        params: Iterable[str] | ParamFilter | None = None,
        ranks: Ranks = 0,
        log_dir: str | os.PathLike[str] | None = None,
        flush_secs: float = 5.0,
        forensics: bool = False,
        on_nonfinite: Literal["record", "skip"] = "record",
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(
                "gradviz.watch: model must be a torch.nn.Module (its named parameters are watched), "
                f"got {type(model).__name__}."
            )
        check_optimizer("gradviz.watch", optimizer, hooks=True)
        if on_nonfinite not in ("record", "skip"):
            raise ValueError(f'gradviz.watch: on_nonfinite must be "record" or "skip", got {on_nonfinite!r}.')
        if on_nonfinite == "skip" and optimizer is None:
            raise ValueError(
                'gradviz.watch: on_nonfinite="skip" needs the optimizer (the step is skipped from its step '
                "hook, after the row is recorded)."
            )
        check_count("every", every, 1, "record every N-th step")
        check_count("weights_every", weights_every, 1, "None: never measure the weights", optional=True)
        check_count("max_steps", max_steps, 2, "None: keep every row", optional=True)
        if log_dir is not None:
            check_path("gradviz.watch", "log_dir", log_dir)
        inner = unwrap(model)
        names, tensors = select_params(inner, params)
        self.rank = rank()
        self.recording = records_on(ranks, self.rank)
        self.graph = None
        # The graph of the first backward (dropped once captured). Not for sharded (FSDP2) models: their
        # backward runs on unsharded copies of the parameters, so every parameter would look unused.
        sharded = any_sharded(tensors)
        self._graph_model: torch.nn.Module | None = model if self.recording and not sharded else None
        self._widget: Any = None
        self._last_push = 0.0
        self.model_name = model_name(model)
        self.optimizer_name = type(optimizer).__name__ if optimizer is not None else None
        self.log_dir = rank_dir(log_dir, self.rank) if log_dir is not None and self.recording else None
        self._writer = None
        if self.log_dir is not None:
            try:
                self._writer = RunWriter(
                    self.log_dir,
                    names,
                    every=every,
                    weights_every=weights_every,
                    model=self.model_name,
                    optimizer=self.optimizer_name,
                    rank=self.rank,
                    world_size=world_size(),
                    flush_secs=flush_secs,
                )
            except FileExistsError:
                raise
            except OSError as e:  # a directory that cannot be written must not stop the training
                warnings.warn(
                    f"gradviz.watch cannot write {os.fspath(self.log_dir)!r}: {e}. The monitor records in "
                    "memory only.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self.log_dir = None
            else:
                # a script that never calls close() still ends its run
                weakref.finalize(self, self._writer.close)
        # Every argument is good and the log is open: now replace an open monitor of the same model
        self._model_ref = weakref.ref(inner)
        self._optimizer_ref = weakref.ref(optimizer) if optimizer is not None else None
        _close_previous(self, inner, optimizer)
        buffer = LoggedSteps(names, max_steps, every, weights_every, writer=self._writer, keep=self.recording)
        self._recorder: Recorder | None = Recorder(
            names,
            tensors,
            model=model,
            optimizer=optimizer,
            every=every,
            weights_every=weights_every,
            max_steps=max_steps,
            on_first_backward=self._on_first_backward,
            buffer=buffer,
            active=self.recording or sharded,
        )
        self._buffer = self._recorder.buffer
        self._recorder.on_recorded = self._push
        self._recorder.on_stopped = self._refresh
        self._stopped: tuple[int | None, str] | None = None  # kept after close()
        # NaN forensics (NOTE [replaying a step]): not for sharded or compiled models (hooks on a compiled
        # module would change its graph)
        self._forensics = Forensics(
            inner,
            self._recorder,
            self._writer,
            requested=forensics,
            armed=self.recording and not sharded and not holds_compiled(model),
        )
        self._recorder.on_first_nonfinite = self._forensics.on_first_nonfinite
        self._recorder.skip_nonfinite = on_nonfinite == "skip"
        self._steps_seen = 0
        self._skipped: list[int] = []
        self._headroom: dict[str, Headroom] = {}
        self._headroom_rows: tuple[list[int], np.ndarray] = ([], np.zeros((0, len(names)), np.float32))
        _LIVE.add(self)

    def _on_first_backward(self, root: torch.autograd.graph.Node) -> None:
        """Called once, inside the first backward pass, before ``root`` runs.

        ``root`` is the autograd node of the model's output (the first tensor output with a ``grad_fn``);
        the graph below it is still intact, the loss ops above it have run. It is walked into plain data
        (``self.graph``: the widget state of that graph) and no node is kept.
        """
        model, self._graph_model = self._graph_model, None
        if model is None:
            return
        self.graph = watch_graph_state(root, model)
        if self._writer is not None:
            self._writer.write_graph(*self.graph)

    # -- views -----------------------------------------------------------------------------------------

    def widget(self) -> Any:
        """The live widget: heatmap and charts of the history, and the graph of the first backward."""
        if self._widget is None:
            self._widget = view.monitor_widget(self._state())
        return self._widget

    def _state(self) -> dict[str, Any]:
        history = self.history
        records, (steps, rows) = self._headroom_now()
        headroom = view.watch_headroom(history.names, records, steps, rows)
        return view.build_watch_state(
            history,
            self.graph,
            live=not self.closed and self.stopped is None,
            forensics=self._forensics.view(),
            headroom=headroom,
            stopped=self.stopped,
        )

    @property
    def stopped(self) -> tuple[int | None, str] | None:
        """When gradviz's own error stopped the recording (NOTE [fail-safe]): (the step of the last row
        recorded before it, or None; what failed). None while it records as it should."""
        recorder = self._recorder
        if recorder is None:
            return self._stopped  # as close() found it
        return (recorder.last_row, recorder.failsafe.describe()) if recorder.stopped else None

    def _refresh(self) -> None:
        if self._widget is not None:
            self._widget.update(self._state())

    def _headroom_now(
        self, recorder: Recorder | None = None
    ) -> tuple[dict[str, Headroom], tuple[list[int], np.ndarray]]:
        """The headroom records and the per-step headroom kept (plain data; kept after close)."""
        recorder = recorder or self._recorder
        if recorder is not None:
            tracker = recorder.headroom
            self._headroom = tracker.report()
            rows = np.stack(tracker.rows) if tracker.rows else self._headroom_rows[1][:0]
            self._headroom_rows = (list(tracker.steps), rows)
        return self._headroom, self._headroom_rows

    def _save_headroom(self) -> None:
        """``headroom.json`` in the run folder: the records, and the series of at most 16 parameters."""
        records, (steps, rows) = self._headroom_now()
        if self._writer is None or not steps:
            return
        names = self._buffer.names
        kept = view.saved_columns(records, names)
        columns = [names.index(name) for name in kept]
        self._writer.write_headroom(list(records.values()), steps, kept, rows[:, columns])

    @property
    def headroom(self) -> dict[str, Headroom]:
        """Precision headroom at the latest recorded step, per parameter that had a gradient: how many bits
        its gradient's largest magnitude is below its dtype's largest value, its trend, the steps left at
        that trend, and when it was flagged as heading for overflow (``Headroom``; NOTE [precision
        headroom] in capture/_headroom.py). Half-precision gradients are measured exactly; the others are
        bounded by their norm."""
        return dict(self._headroom_now()[0])

    @property
    def skipped(self) -> list[int]:
        """The steps ``on_nonfinite="skip"`` kept from changing the weights (their gradients were NaN/Inf)."""
        return list(self._recorder.skipped if self._recorder is not None else self._skipped)

    @property
    def first_nonfinite(self) -> FirstNonfinite | None:
        """The first recorded step with a NaN/Inf gradient, replayed: ``.step``, ``.parameters``,
        ``.trace`` (``.trace.capture.births``, ``.trace.verdicts``), ``.birth()``; None while finite."""
        return self._forensics.first

    def _push(self) -> None:
        """After a recorded step: refresh a displayed widget, at most a few times a second."""
        self._forensics.step_done()
        if self._writer is not None and self._writer.headroom_due():
            self._save_headroom()
        if self._widget is None:
            return
        now = time.monotonic()
        if now - self._last_push >= _PUSH_INTERVAL:
            self._last_push = now
            self._widget.update(self._state())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        if not self.recording:  # only the recording ranks show the widget
            return {"text/plain": repr(self)}
        bundle = self.widget()._repr_mimebundle_(include=include, exclude=exclude)
        data, meta = bundle if isinstance(bundle, tuple) else (bundle or {}, {})
        return {**data, "text/plain": repr(self)}, meta

    def save_html(self, path: str | os.PathLike[str] | None = None) -> os.PathLike[str]:
        """Write the views as one standalone HTML page that opens offline; return its path.

        With no ``path``, writes ``gradviz-<model>-<YYYYmmdd-HHMMSS>.html`` in the working directory.
        """
        if path is None:
            path = view.default_path(self.model_name or "watch")
        return view.write_watch_html(path, self._state(), title=f"{self.model_name}: gradient health")

    @property
    def history(self) -> History:
        """A copy of what was recorded so far (see :class:`gradviz.records._history.History`)."""
        return self._buffer.history()

    @property
    def closed(self) -> bool:
        return self._recorder is None

    @property
    def steps_seen(self) -> int:
        """Step boundaries seen since ``watch()``, recorded or not."""
        return self._recorder.step_count if self._recorder is not None else self._steps_seen

    def _before_update(self) -> None:
        """The training callbacks' pre-optimizer-step event (no optimizer hooks there): the gradients are
        complete, the update has not run. With forensics armed, a first NaN/Inf is replayed now."""
        self._forensics.before_update()

    def step(self) -> None:
        """Mark the end of a training step (only when ``watch()`` was given no optimizer)."""
        if self._recorder is None:
            raise RuntimeError("this monitor is closed; start a new one with gradviz.watch(...).")
        if self._recorder.optimizer is not None:
            raise RuntimeError(
                f"this monitor takes its steps from the {self.optimizer_name} step hooks; call mon.step() "
                "only when watch() was given no optimizer."
            )
        self._recorder.step()

    def close(self) -> None:
        """Remove every hook and release the model (the history stays). Safe to call twice."""
        recorder, self._recorder = self._recorder, None
        self._graph_model = None
        self._forensics.close()  # its hooks, and the model held for a replay
        _LIVE.discard(self)
        try:
            if recorder is not None:
                self._steps_seen = recorder.step_count
                self._skipped = list(recorder.skipped)
                self._headroom_now(recorder)  # the last records and series stay
                self._save_headroom()
                recorder.close()
                if recorder.stopped:  # (also by an error in close itself)
                    self._stopped = (recorder.last_row, recorder.failsafe.describe())
                if self._widget is not None:
                    self._widget.update(self._state())  # the final rows, no longer live
        finally:
            if self._writer is not None:
                self._writer.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def to_dict(self) -> dict[str, Any]:
        """The run's summary as plain data (schema ``gradviz-run-summary``, version 1, documented in
        ``gradviz/view/_export.py``): the problems as the view's banner says them, the last step's counts."""
        history = self.history
        return view.run_summary_dict(history, self._frozen(history), self.model_name, self.optimizer_name)

    def to_json(self, indent: int | None = None) -> str:
        """:meth:`to_dict` as strict JSON."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    def __repr__(self) -> str:
        h = self._buffer
        by = f" with {self.optimizer_name}" if self.optimizer_name else ""
        bad = ""
        status = "closed" if self.closed else "watching"
        if not self.recording:
            return (
                f"<gradviz.Monitor {status} {len(h.names)} parameters of {self.model_name}{by} on rank "
                f"{self.rank}: not recording (ranks= of watch() chose other ranks)>"
            )
        if h.n:
            history = self.history
            frozen = self._frozen(history)
            counts = view.step_counts(history, -1, frozen)
            bad = f"; step {history.steps[-1]}: {view.counts_text(counts)}"
            went = view.nonfinite_text(history, frozen) if h.first_nonfinite is not None else None
            if went is not None:
                bad += f"; {went}"
        if self.log_dir is not None:
            bad += f"; writing {os.fspath(self.log_dir)!r}"
        if self.stopped is not None:
            status = "stopped"
            bad += f"; {view.stopped_text(*self.stopped)}"
        return (
            f"<gradviz.Monitor {status} {len(h.names)} parameters of {self.model_name}{by}: "
            f"{h.n} steps recorded of {self.steps_seen}{bad}>"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))
        history = self.history
        if cycle or not len(history) or not self.recording:
            return
        last = history.state[-1]
        counts = ", ".join(f"{int((last == s).sum())} {s.name}" for s in GradState if (last == s).any())
        p.text(f"\nstep {history.steps[-1]}: gradients {counts}")
        p.text("\n" + view.run_text(history, self._frozen(history)))
        finite = np.flatnonzero(last == GradState.finite)
        if len(finite):
            norms = history.grad_norm[-1, finite]
            lo, hi = finite[np.argmin(norms)], finite[np.argmax(norms)]
            p.text(
                f"\n  largest gradient norm at step {history.steps[-1]}:  {history.names[hi]} "
                f"{history.grad_norm[-1, hi]:.3g}"
                f"\n  smallest gradient norm at step {history.steps[-1]}: {history.names[lo]} "
                f"{history.grad_norm[-1, lo]:.3g}"
            )

    def _frozen(self, history: History) -> list[bool]:
        """Frozen columns, as the graph of the first backward says (all False before it is captured)."""
        return view.frozen_columns(history.names, self.graph[0] if self.graph is not None else None)


def watch_graph_state(root: torch.autograd.graph.Node, model: torch.nn.Module) -> tuple[dict, bytes, bytes]:
    """Widget state of the graph below ``root`` (the model's output, at the first backward)."""
    capture, watched = capture_graph(root, model, None)
    read_values(watched)
    capture.source = "watch"
    capture.backward_calls = 1
    del watched  # no live tensor outlives this call
    graph, edge_norms, hists = view.build_state(capture, decide(capture))
    # The trace title counts verdicts of this one pass ("all learn"); the watch view says what each step
    # recorded, so this graph's title only says what it is.
    graph["title"] = f"{capture.model_name or 'model'}: autograd graph of the first backward pass"
    return graph, edge_norms, hists


_LIVE: weakref.WeakSet[Monitor] = weakref.WeakSet()  # monitors not closed yet


def _close_previous(new: Monitor, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
    """Close the open monitors of ``model`` or ``optimizer`` (a notebook cell run again), one notice each."""
    for old in list(_LIVE):
        if old is new or old.closed:
            continue
        if old._model_ref() is model:
            what = f"model {old.model_name}"
        elif optimizer is not None and old._optimizer_ref is not None and old._optimizer_ref() is optimizer:
            what = f"optimizer {old.optimizer_name}"
        else:
            continue
        old.close()
        warnings.warn(
            f"gradviz.watch closed the previous monitor of this {what} ({old._buffer.n} steps recorded, "
            "still readable from it): one monitor per model; call mon.close() to end one yourself.",
            UserWarning,
            stacklevel=4,
        )
