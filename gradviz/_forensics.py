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

from gradviz._trace import Trace, trace

if TYPE_CHECKING:
    from gradviz.capture import StepInputs

__all__ = ["FirstNonfinite", "replay"]


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
