"""NaN forensics for ``watch``: the step whose gradient first went NaN/Inf, replayed under ``trace``.

The replay runs on a deep copy of the model, with the weights the forward used (the optimizer has not
stepped yet), the same inputs and the same random state, and backpropagates the very gradients that
arrived at the model's outputs (NOTE [replaying a step] in capture/_step_inputs.py): its births say which
op made the NaN, forward or backward, at the user's line. The training itself is not touched: the copy
gets the gradients, the generators are put back. Where a replay is impossible, ``reason`` says why.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING

import torch
from torch.utils._pytree import tree_leaves

from gradviz import view
from gradviz._trace import Trace, trace
from gradviz.capture import FailSafe, StepInputs

if TYPE_CHECKING:
    from gradviz.capture import Recorder
    from gradviz.runlog import RunWriter

__all__ = ["FirstNonfinite", "Forensics", "replay"]


@dataclasses.dataclass
class FirstNonfinite:
    """The first recorded step with a NaN/Inf gradient: ``step``, the ``parameters`` whose gradient was not
    finite, and ``trace``, that step replayed under :func:`gradviz.trace` (``trace.capture.births`` and
    ``trace.verdicts`` say where the NaN was born), or None with ``reason`` saying why there is none.
    ``from_loss``: the gradient arriving at the model's output was already non-finite (the loss made it).

    On a run read from disk (``gradviz.open(log_dir).first_nonfinite``), ``step``, ``parameters``,
    ``reason``, ``from_loss`` and ``birth()`` are the live monitor's, read from the run's
    ``forensics.json``, but ``trace`` is None: a trace (live tensors, autograd nodes) cannot be rebuilt
    from JSON. Its view (the banner's words, the replayed graph) is shown as the live one was."""

    step: int
    parameters: list[str]
    trace: Trace | None
    reason: str = ""
    from_loss: bool = False
    said: str | None = dataclasses.field(default=None, repr=False)
    """``birth()``'s words as the live monitor said them (a run read from disk), else None."""

    def birth(self) -> str:
        """Where the NaN/Inf was born, in words ("the backward of sqrt at model.py:31"), or the reason."""
        if self.said is not None:
            return self.said
        if self.from_loss:
            return "the loss: the gradient arriving at the model's output was already NaN/Inf"
        births = self.trace.capture.births if self.trace is not None else []
        if not births:
            return self.reason or "not found"
        b = births[0]
        where = f" at {b.site.where}" if b.site is not None else ""
        phase = {"input": "an input of"}.get(b.phase, f"the {b.phase} of")
        return f"{phase} {b.op_name}{where}"

    def __repr__(self) -> str:
        more = len(self.parameters) - 3
        names = ", ".join(self.parameters[:3]) + (f" and {more} more" if more > 0 else "")
        return f"<gradviz.FirstNonfinite step {self.step} ({names}): born in {self.birth()}>"


def replay(model: torch.nn.Module, inputs: StepInputs, step: int, parameters: list[str]) -> FirstNonfinite:
    """Replay the last forward and backward of ``model`` that ``inputs`` kept, under a trace."""
    if inputs.forwards == 0:
        return FirstNonfinite(step, parameters, None, "no forward of the watched model ran in that step")
    changed = inputs.changed_inputs()
    if changed:
        return FirstNonfinite(
            step,
            parameters,
            None,
            f"{changed} of its inputs were written in place after the forward: the step cannot be replayed",
        )
    grads = inputs.output_grads
    if not grads or all(g is None for g in grads):
        return FirstNonfinite(step, parameters, None, "the backward did not start from the model's output")
    arrived_bad = any(g is not None and not bool(torch.isfinite(g).all()) for g in grads)
    with inputs.paused():  # the copy's forward is not a step of the training
        return _replay(model, inputs, step, parameters, grads, arrived_bad)


def _replay(model, inputs, step, parameters, grads, arrived_bad: bool) -> FirstNonfinite:
    twin = copy.deepcopy(model)
    twin.zero_grad(set_to_none=True)
    states = inputs.restore_rng()
    try:  # (inside the optimizer's step hook, under no_grad: the replay needs its graph)
        with torch.enable_grad(), trace(twin) as t:
            out = twin(*inputs.args, **inputs.kwargs)
            outs = [o for o in tree_leaves(out) if isinstance(o, torch.Tensor) and o.requires_grad]
            pairs = [(o, g) for o, g in zip(outs, grads, strict=False) if g is not None]
            params = [p for p in twin.parameters() if p.requires_grad]
            torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs], inputs=params or None)
    finally:
        inputs.put_back_rng(states)
    # the output was finite and its gradient was not: the loss (user code after the model) made it. Read
    # after the trace: a check inside it would be one of the traced step's ops (a mask hiding the NaN)
    with torch.no_grad():
        from_loss = arrived_bad and all(bool(torch.isfinite(o).all()) for o, _ in pairs)
    reason = ""
    if inputs.forwards > 1:
        reason = f"the step ran {inputs.forwards} forwards (gradient accumulation): the last one is replayed"
    if (
        not from_loss
        and not any(v.cause == "nonfinite" for v in t.verdicts.values())
        and not t.capture.births
    ):
        reason = (reason + "; " if reason else "") + "the replay's gradients are finite: not reproduced"
    return FirstNonfinite(step, parameters, t, reason, from_loss)


class Forensics:
    """A monitor's NaN forensics (``watch(..., forensics=True)``): what a replay needs (``StepInputs``,
    hooks on the model), the replay of the first recorded NaN/Inf step, its view (built once per replay)
    and its file in the run folder (``forensics.json``, gradviz/runlog/_format.py). Without
    ``requested``, or on a model it cannot hook (compiled, sharded), it only says why there is no replay.
    Never in the way of the training: a failure becomes the reason."""

    def __init__(
        self,
        model: torch.nn.Module,
        recorder: Recorder,
        writer: RunWriter | None,
        *,
        requested: bool,
        armed: bool,
    ) -> None:
        self.requested = requested
        self.first: FirstNonfinite | None = None
        self._model: torch.nn.Module | None = model
        self._recorder: Recorder | None = recorder
        self._writer = writer
        # Without an optimizer, a replay needs before_update() (the training callbacks call it): a manual
        # step() comes after the update, when the weights are no longer the forward's
        self.inputs: StepInputs | None = StepInputs(model) if requested and armed else None
        self._shown: tuple[FirstNonfinite, view.WatchForensics] | None = None

    # -- events of the monitor ---------------------------------------------------------------------------

    def on_first_nonfinite(self, step: int, untouched: bool) -> None:
        """The first recorded step with a NaN/Inf gradient: replay it under trace (NOTE [replaying a
        step]) before the optimizer steps, then write its plain data and view for ``gradviz.open``."""
        self.first = self._replayed(step, untouched)
        if self._writer is not None:
            self._write(self.first)

    def before_update(self) -> None:
        """The training callbacks' pre-optimizer-step event: the gradients are complete, the update has
        not run; a first NaN/Inf is replayed now."""
        if self._recorder is not None and self.inputs is not None and self.first is None:
            try:
                self._recorder.before_update()
            except Exception as internal:  # NOTE [fail-safe]: never in the way of the training
                FailSafe().fail(internal, "forensics before the update")

    def step_done(self) -> None:
        if self.inputs is not None:
            self.inputs.step_done()

    def close(self) -> None:
        """Remove the hooks and release the model and the recorder (the replay stays)."""
        inputs, self.inputs = self.inputs, None
        self._model = self._recorder = None
        if inputs is not None:
            inputs.close()

    # -- the replay, its view, its file ------------------------------------------------------------------

    def view(self) -> view.WatchForensics | None:
        """The first NaN/Inf step's replay as the watch view shows it (its births, the replayed graph)."""
        f = self.first
        if f is None:
            return None
        if self._shown is None or self._shown[0] is not f:
            t = f.trace
            shown = view.watch_forensics(
                f.step,
                t.capture.births if t is not None else [],
                from_loss=f.from_loss,
                reason=f.reason,
                replay=view.build_state(t.capture, t.verdicts) if t is not None else None,
            )
            self._shown = (f, shown)
        return self._shown[1]

    def _replayed(self, step: int, untouched: bool) -> FirstNonfinite:
        recorder = self._recorder
        bad = []
        if recorder is not None:
            with torch.no_grad():
                bad = [
                    n
                    for n, p in zip(recorder.names, recorder.params, strict=True)
                    if p.grad is not None and not bool(torch.isfinite(p.grad).all())
                ]
        if self.inputs is None or self._model is None:
            why = (
                "no replay: the model is compiled or sharded"
                if self.requested
                else "no replay: watch(..., forensics=True) arms it"
            )
            return FirstNonfinite(step, bad, None, why)
        if not untouched:
            why = (
                "no replay: the optimizer had already updated the weights when this step was recorded (a "
                "weight step of weights_every, or a closure optimizer)"
                if recorder is None or recorder.optimizer is not None
                else "no replay: mon.step() records a step after the update; give watch() the optimizer "
                "(or train with a gradviz callback) to replay it"
            )
            return FirstNonfinite(step, bad, None, why)
        try:
            return replay(self._model, self.inputs, step, bad)
        except Exception as exc:  # NOTE [fail-safe]: the replay must never stop the training
            return FirstNonfinite(step, bad, None, f"the replay failed ({type(exc).__name__}: {exc})")

    def _write(self, f: FirstNonfinite) -> None:
        """Its plain data and view to ``log_dir/forensics.json``. A write failure warns once."""
        assert self._writer is not None
        try:
            shown = self.view()
            assert shown is not None
            record = {
                "step": int(f.step),
                "parameters": list(f.parameters),
                "reason": f.reason,
                "from_loss": bool(f.from_loss),
                "birth": f.birth(),
                "view": shown.info,
            }
            graph = (shown.graph, shown.edge_norms, shown.hists) if f.trace else None
            self._writer.write_forensics(record, graph)
        except Exception as internal:  # NOTE [fail-safe]: never in the way of the training
            FailSafe().fail(internal, "writing forensics.json")
