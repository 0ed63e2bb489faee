"""Decide each target's cause from a Capture. Pure functions over plain data.

The order of the rules is the order in which a person should fix things: a frozen or unregistered
tensor first, then a gradient that arrived and was thrown away, then the value of the gradient, then
why no gradient arrived at all. "Arrived" is what the traced backward delivered (``Target.delivered``),
never merely a ``.grad`` that exists: it may be a value from an earlier step.
"""

from __future__ import annotations

from gradviz.capture._records import Capture, Cut, Site, Target
from gradviz.diagnose._causes import Cause, Verdict
from gradviz.diagnose._messages import explain
from gradviz.diagnose._paths import GraphIndex

NONE, ZERO, FINITE, NONFINITE, UNKNOWN = 0, 1, 2, 3, -1
# Errors that a cut causes (backward on a loss with no grad_fn): the cut is the answer, with the note.
_CAUSED_BY_A_CUT = frozenset({"no_grad_root"})
# When several cuts took a target's every path to the loss, name the one most likely to be the mistake:
# an explicit detach or escape before gradient-less code paths such as sampling under no_grad.
_CUT_ORDER = {"detach": 0, "data": 0, "escaped": 1, "checkpoint": 2, "no_grad": 3, "non_differentiable": 4}


def decide(cap: Capture) -> dict[str, Verdict]:
    ctx = _Context(cap)
    return {t.name: _verdict(t, ctx) for t in cap.targets if t.kind != "replaced"}


class _Context:
    def __init__(self, cap: Capture) -> None:
        self.cap = cap
        self.graph = GraphIndex(cap)
        self.root_values = 0
        self.root_cuts: list[Cut] = []
        self.loss_birth = -1
        self.loss_nonfinite = ""
        for root in cap.roots:
            self.root_values |= root.values
            if root.nonfinite and not self.loss_nonfinite:
                self.loss_nonfinite, self.loss_birth = root.nonfinite, root.birth
            for i in root.cuts:
                cut = cap.cuts[i]
                if not cut.retracted and cut not in self.root_cuts:
                    self.root_cuts.append(cut)
        self.escape_cuts = [cap.cuts[i] for i in cap.escape_cuts if not cap.cuts[i].retracted]

    def cut_for(self, bit: int) -> Cut | None:
        """The cut that explains why a target's value reached the loss without its gradient."""
        found = [cut for cut in self.root_cuts if cut.lost & bit]
        if not found and not self.root_values & bit and self.cap.escaped & bit:
            # the value left torch (.numpy(), .item()) and came back as a tensor the tracer cannot link
            found = [cut for cut in self.escape_cuts if cut.lost & bit]
        if not found and self.root_values & bit:
            # lineage lost track of it: any cut of this target explains it
            found = [cut for cut in self.cap.cuts if cut.lost & bit and not cut.retracted]
        if not found:
            return None
        return min(found, key=lambda cut: _CUT_ORDER.get(cut.kind, 5))

    def last_clear(self, bit: int) -> Site | None:
        for clear in reversed(self.cap.clears):
            if clear.targets & bit:
                return clear.site
        return None


def _verdict(t: Target, ctx: _Context) -> Verdict:
    cause, where, extra = _cause(t, ctx)
    message, fix = explain(cause, t, where, extra, ctx.cap)
    return Verdict(
        name=t.name,
        cause=cause,
        where=where.where if where is not None else None,
        message=message,
        fix=fix,
        grad_norm=t.grad_norm,
    )


def _cause(t: Target, ctx: _Context) -> tuple[Cause, Site | None, object]:
    cap = ctx.cap
    if not t.requires_grad:
        return Cause.frozen, None, None
    if t.kind == "unregistered":
        return Cause.unregistered, None, None
    if t.created is not None and (t.replaced or t.in_optimizer is False):
        return Cause.not_in_optimizer, t.created, "created"
    err = cap.error
    if t.failed and err is not None:  # the backward that raised owed it a gradient (earlier ones came)
        return Cause.error, err.blame or err.site, err
    if t.delivered != NONE:
        return _arrived(t, ctx)
    # nothing arrived from the traced backward
    if err is not None and err.kind not in _CAUSED_BY_A_CUT:
        # the step raised before this gradient could arrive: the error is why, whatever else is wrong
        return Cause.error, err.blame or err.site, err
    cut = ctx.cut_for(t.bit)
    if cut is not None:
        return Cause(cut.kind), cut.site, cut
    if cap.error is not None:
        return Cause.error, cap.error.blame or cap.error.site, cap.error
    if t.reached and (not cap.backward_calls or not t.is_leaf or cap.source == "watch"):
        # in the graph of the output, and no backward ran (or it keeps no .grad, or this is watch's graph,
        # taken as the first backward begins): nothing to check here
        return Cause.ok, None, "no_grad_field"
    return Cause.unused, None, None


def _arrived(t: Target, ctx: _Context) -> tuple[Cause, Site | None, object]:
    """A gradient arrived: was it kept, and is it usable?"""
    if not t.returned and t.is_leaf and t.grad_state in (NONE, ZERO) and t.grad_state != t.delivered:
        site = ctx.last_clear(t.bit)
        if site is not None or t.grad_state == NONE:
            return Cause.cleared, site, None
    if t.delivered == NONFINITE:
        birth = ctx.cap.births[t.birth] if t.birth >= 0 else None
        return Cause.nonfinite, birth.site if birth else None, birth
    if ctx.loss_nonfinite and ctx.root_values & t.bit:
        birth = ctx.cap.births[ctx.loss_birth] if ctx.loss_birth >= 0 else None
        return Cause.nonfinite, birth.site if birth else None, ("loss", birth)
    if t.delivered == ZERO:
        mechanism = ctx.graph.zero_mechanism(t)
        return Cause.zero, mechanism.site, mechanism
    if t.in_optimizer is False:
        return Cause.not_in_optimizer, None, None
    return Cause.ok, None, "unknown" if t.delivered == UNKNOWN else None
