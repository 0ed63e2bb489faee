"""``gradviz.ddp_check``: the parameters DistributedDataParallel would reject, found on one process.

DDP with ``find_unused_parameters=False`` (its default) expects every parameter that requires grad to get a
gradient in every backward pass. One that does not makes the *next* iteration raise "Expected to have
finished reduction in the prior iteration before starting a new one", naming the parameters only under
``TORCH_DISTRIBUTED_DEBUG=INFO`` or ``DETAIL`` — after the job was queued, launched and started.

The test here is whether a gradient really arrived: a registered parameter that requires grad and that no
backward pass inside the trace delivered a gradient to (not merely reached: a custom Function whose backward
returns None reaches the accumulator with nothing). Each comes with its verdict: why (unused, detach,
no_grad, argmax, ...) and the line. From a ``watch`` (a Monitor, a
History or an opened run) it reports the parameters that got a gradient on some recorded steps and not on
others (a branch, a mixture-of-experts route): DDP needs ``find_unused_parameters=True`` for those.

>>> import torch, gradviz
>>> model = torch.nn.ModuleDict({"enc": torch.nn.Linear(3, 3), "aux": torch.nn.Linear(3, 1)})
>>> with gradviz.trace(model) as t:
...     model["enc"](torch.ones(2, 3)).sum().backward()
>>> print(gradviz.ddp_check(t))  # doctest: +ELLIPSIS
DDP check: DistributedDataParallel(find_unused_parameters=False) would raise at the second step: ...
  aux.weight  unused
  aux.bias    unused
...
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradviz.records import GradState, History, Verdict

__all__ = ["DDPCheck", "ddp_check"]


@dataclass
class DDPCheck:
    """What DDP (``find_unused_parameters=False``) would say about a model, before it runs under DDP.

    - ``rejected`` (from a trace): name -> Verdict of each parameter DDP would name in its error.
    - ``sometimes`` (from a watch): name -> (recorded steps with a gradient, recorded steps), for the
      parameters that got a gradient on some steps and not on others.
    - ``never`` (from a watch): parameters with no gradient on any recorded step (unused, or frozen: the
      recorded norms cannot tell those apart; ``trace`` can).
    """

    rejected: dict[str, Verdict] = field(default_factory=dict)
    sometimes: dict[str, tuple[int, int]] = field(default_factory=dict)
    never: list[str] = field(default_factory=list)
    source: str = ""  # "trace" or "watch"
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """DDP with its defaults would run: nothing rejected, nothing used on some steps only."""
        return not (self.rejected or self.sometimes or self.never)

    def report(self) -> str:
        if self.ok:
            what = "every parameter that requires grad got a gradient"
            if self.source == "watch":
                what = "every watched parameter got a gradient on every recorded step"
            elif self.notes:  # some were not asked for: say what is known, and how they are told apart
                return "\n".join(
                    ["DDP check: every parameter a backward was asked for got a gradient.", *self.notes]
                )
            return f"DDP check: {what}; DistributedDataParallel runs with find_unused_parameters=False."
        lines: list[str] = []
        if self.rejected:
            n = len(self.rejected)
            lines.append(
                f"DDP check: DistributedDataParallel(find_unused_parameters=False) would raise at the second "
                f"step: {n} parameter{'s' if n != 1 else ''} get{'' if n != 1 else 's'} no gradient."
            )
            width = max(len(name) for name in self.rejected)
            cw = max(len(v.cause.value) for v in self.rejected.values())
            fixes: dict[tuple[str, str], list[str]] = {}
            for name, v in self.rejected.items():
                lines.append(f"  {name:<{width}}  {v.cause.value:<{cw}}  {v.where or ''}".rstrip())
                fixes.setdefault((v.cause.value, v.fix), []).append(name)
            for (_, fix), names in fixes.items():
                more = f" (+{len(names) - 1} more)" if len(names) > 1 else ""
                lines.append(f"  fix {names[0]}{more}: {fix}")
            lines.append("  (find_unused_parameters=True would hide these and cost a graph walk every step.)")
        if self.sometimes:
            lines.append(
                "DDP check: parameters used on some steps only (a branch, a mixture-of-experts route); "
                "DDP needs find_unused_parameters=True for them:"
            )
            width = max(len(name) for name in self.sometimes)
            for name, (got, total) in self.sometimes.items():
                lines.append(f"  {name:<{width}}  a gradient on {got} of {total} recorded steps")
        if self.never:
            lines.append(
                "DDP check: no gradient on any recorded step (unused or frozen; gradviz.trace tells which): "
                + ", ".join(self.never)
            )
        lines.extend(self.notes)
        return "\n".join(lines)

    __str__ = report

    def __repr__(self) -> str:
        if self.ok:
            return "<DDPCheck ok>"
        parts = []
        if self.rejected:
            parts.append(f"{len(self.rejected)} rejected: {', '.join(self.rejected)}")
        if self.sometimes:
            parts.append(f"{len(self.sometimes)} used on some steps: {', '.join(self.sometimes)}")
        if self.never:
            parts.append(f"{len(self.never)} without gradient: {', '.join(self.never)}")
        return f"<DDPCheck {'; '.join(parts)}>"

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.report())


def ddp_check(result: object) -> DDPCheck:
    """The parameters DDP would reject (from a finished ``gradviz.trace``), or that got gradients on some
    steps only (from ``gradviz.watch``'s monitor, its ``history``, or ``gradviz.open``'s run).

    Trace one training step (forward, loss, backward) of the model as you will wrap it in DDP; the
    parameters returned are the ones DDP names in its "Expected to have finished reduction" error.
    """
    from gradviz._trace import Trace

    if isinstance(result, Trace):
        if result._verdicts is None:
            when = "its with-block is still running" if result._session is not None else "it never ran"
            raise ValueError(
                f"ddp_check needs a finished gradviz.trace, but {when}: call ddp_check(t) after "
                "`with gradviz.trace(model) as t:` and its block."
            )
        return _from_trace(result)
    history = result if isinstance(result, History) else getattr(result, "history", None)
    if isinstance(history, History):
        return _from_history(history)
    raise TypeError(
        "ddp_check takes the result of gradviz.trace (after its with-block), a gradviz.watch monitor, "
        f"its history, or a run from gradviz.open; got {type(result).__name__}."
    )


def _from_trace(t: object) -> DDPCheck:
    capture, verdicts = t.capture, t.verdicts  # type: ignore[attr-defined]
    ran = capture.backward_calls > 0

    def missing(target) -> bool:  # no backward: judged by the forward output's graph
        return not target.delivered if ran else not target.reached

    candidates = [
        target
        for target in capture.targets
        if target.kind == "parameter" and target.requires_grad and missing(target) and target.name in verdicts
    ]
    # left out on purpose by backward(inputs=...) / autograd.grad: a step of another part's (a GAN's
    # generator step through its discriminator), not a parameter the model forgot to use
    asked_not = [t for t in candidates if t.not_requested is not None]
    rejected = {t.name: verdicts[t.name] for t in candidates if t.not_requested is None}
    notes = []
    if asked_not:
        names = ", ".join(t.name for t in asked_not[:4]) + (
            f" (+{len(asked_not) - 4} more)" if len(asked_not) > 4 else ""
        )
        site = asked_not[0].not_requested
        notes.append(
            f"{names}: not asked for by the backward at {site.where if site else 'its call'} (inputs= / "
            "autograd.grad), so not counted. If that module is wrapped in DDP, keep its gradients out of "
            "this step: freeze it for the step (requires_grad_(False)) or run it under its no_sync()."
        )
    if capture.backward_calls == 0:
        notes.append("No backward() ran inside the trace: judged from the graph of the forward output.")
    return DDPCheck(rejected=rejected, source="trace", notes=notes)


def _from_history(h: History) -> DDPCheck:
    if not len(h):
        return DDPCheck(source="watch", notes=["No step recorded yet: nothing to check."])
    got = (h.state != GradState.none).sum(axis=0)
    total = len(h)
    sometimes = {h.names[i]: (int(got[i]), total) for i in np.flatnonzero((got > 0) & (got < total))}
    never = [h.names[i] for i in np.flatnonzero(got == 0)]
    return DDPCheck(sometimes=sometimes, never=never, source="watch")
