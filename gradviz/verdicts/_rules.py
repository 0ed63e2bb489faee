"""Decide each target's cause from a Capture. Pure functions over plain data.

The order of the rules is the order in which a person should fix things: a frozen or unregistered
tensor first, then a gradient that arrived and was thrown away, then the value of the gradient, then
why no gradient arrived at all. "Arrived" is what the traced backward delivered (``Target.delivered``),
never merely a ``.grad`` that exists: it may be a value from an earlier step.
"""

from __future__ import annotations

from gradviz.records import ERROR_KINDS, Capture, Cause, Clear, Cut, CutHow, GradState, Site, Target, Verdict
from gradviz.verdicts._evidence import (
    AddedUp,
    Born,
    Cleared,
    Consumed,
    Created,
    CutPath,
    Evidence,
    Hidden,
    LossNonfinite,
    NoGradField,
    Nothing,
    NotRequested,
    Raised,
    StepRead,
    Undecided,
    Unreadable,
    Untrained,
    ZeroWhy,
)
from gradviz.verdicts._intent import Intent
from gradviz.verdicts._messages import explain
from gradviz.verdicts._paths import ZeroGraph

# When several cuts took a target's every path to the loss, name the one most likely to be the mistake:
# an explicit detach or escape before gradient-less code paths such as sampling under no_grad.
_CUT_ORDER = {
    Cause.detach: 0,
    Cause.data: 0,
    Cause.escaped: 1,
    Cause.checkpoint: 2,
    Cause.no_grad: 3,
    Cause.non_differentiable: 4,
}


def decide(cap: Capture) -> dict[str, Verdict]:
    ctx = _Context(cap)
    return {t.name: _verdict(t, ctx) for t in cap.targets if t.kind != "replaced"}


class _Context:
    def __init__(self, cap: Capture) -> None:
        self.cap = cap
        self.graph = ZeroGraph(cap)
        self.intent = Intent(cap, self.graph)
        self.root_values = 0
        self.full_root_values = 0  # of roots whose call asked for every leaf's gradient
        self.root_cuts: list[Cut] = []
        self.nonfinite_roots = [root for root in cap.roots if root.nonfinite]
        # an autograd.grad followed by a backward() was a step of the computation (an inner derivative, a
        # penalty): what the loss depends on is what the backward's roots say, not what it differentiated
        last_backward = max((i for i, r in enumerate(cap.roots) if r.call == "backward"), default=-1)
        for i, root in enumerate(cap.roots):
            if root.call == "autograd.grad" and i < last_backward:
                continue
            self.root_values |= root.values
            if root.asked_all:
                self.full_root_values |= root.values
            for i in root.cuts:
                cut = cap.cuts[i]
                if not cut.retracted and cut not in self.root_cuts:
                    self.root_cuts.append(cut)

    def cut_for(self, bit: int) -> Cut | None:
        """The cut that explains why a target's value reached the loss without its gradient."""
        found = [cut for cut in self.root_cuts if cut.lost & bit]
        if not found and self.root_values & bit:
            # lineage lost track of it: any cut of this target explains it (but a gradient returned without
            # a graph cuts only the losses computed from it, which root_cuts already name)
            found = [
                cut
                for cut in self.cap.cuts
                if cut.lost & bit and not cut.retracted and cut.how is not CutHow.grad_without_graph
            ]
        if not found:
            return None
        return min(found, key=lambda cut: _CUT_ORDER.get(cut.kind, 5))

    def first_root_site(self) -> Site | None:
        return next((r.site for r in self.cap.roots if r.site is not None), None)

    def last_clear(self, bit: int) -> Site | None:
        clear = self.last_clear_record(bit)
        return clear.site if clear is not None else None

    def last_clear_record(self, bit: int) -> Clear | None:
        for clear in reversed(self.cap.clears):
            if clear.targets & bit:
                return clear
        return None


def _verdict(t: Target, ctx: _Context) -> Verdict:
    cause, where, evidence = _cause(t, ctx)
    message, fix = explain(cause, t, evidence, ctx.cap)
    return Verdict(
        name=t.name,
        cause=cause,
        where=where.where if where is not None else None,
        message=message,
        fix=fix,
        grad_norm=t.grad_norm,
    )


def _cause(t: Target, ctx: _Context) -> tuple[Cause, Site | None, Evidence]:
    cap = ctx.cap
    if not t.requires_grad:
        return Cause.frozen, None, Nothing()
    if cap.failure:  # NOTE [fail-safe]: the record is partial; say what is known, decide nothing
        return Cause.unknown, None, Undecided(cap.failure)
    if t.kind == "unregistered":
        return Cause.unregistered, None, Nothing()
    if t.created is not None and (t.replaced or t.in_optimizer is False):
        return Cause.not_in_optimizer, t.created, Created(t.created)
    err = cap.error
    if t.failed and err is not None:  # the backward that raised owed it a gradient (earlier ones came)
        return Cause.error, err.blame or err.site, Raised(err)
    if t.delivered != GradState.none:
        return _arrived(t, ctx)
    # nothing arrived from the traced backward
    if err is not None and not ERROR_KINDS[err.kind].caused_by_cut:
        # the step raised before this gradient could arrive: the error is why, whatever else is wrong
        return Cause.error, err.blame or err.site, Raised(err)
    if t.not_requested is not None and t.not_requested_by == "backward" and not ctx.full_root_values & t.bit:
        # only backward(inputs=...) calls reached it, asked for other inputs: that is why, whatever cuts
        # other paths (an autograd.grad inside the forward is a step of the computation: its cut wins)
        return Cause.not_requested, t.not_requested, NotRequested(t.not_requested)
    cut = ctx.cut_for(t.bit)
    if cut is not None:  # a loss depends on it, and every path to that loss was cut: the cut says why
        others = [c for c in ctx.root_cuts if c.lost & t.bit]
        design = ctx.intent.cut_evidence(t, cut, others)  # a straight-through, a target kept fixed
        if design is not None:
            return design.cut.kind, design.where, design
        return cut.kind, cut.site, CutPath(cut)
    if t.not_requested is not None and (err is None or t.not_requested_by == "backward"):
        # a backward reached it and was asked for other inputs (an autograd.grad that did not ask for it
        # is not why, when the step stopped before the backward of the loss it helps compute)
        return Cause.not_requested, t.not_requested, NotRequested(t.not_requested)
    hidden_cut = ctx.root_values & t.bit and err is not None and ERROR_KINDS[err.kind].caused_by_cut
    if err is not None and not (
        t.opaque_how and hidden_cut
    ):  # (a loss with no grad_fn cut inside opaque code)
        return Cause.error, err.blame or err.site, Raised(err)
    if t.opaque_how and (
        t.reached or t.first_use >= 0 or t.opaque_site is not None or ctx.root_values & t.bit
    ):
        # its code ran out of sight (compiled, TorchScript) and no gradient came back from it: the cut or the
        # disuse is inside, where gradviz cannot point (NOTE [invisible to torch.compile])
        site = t.opaque_site or ctx.first_root_site()
        return Cause.non_differentiable, site, Hidden(t.opaque_how, t.opaque, site)
    if t.reached and (not cap.backward_calls or not t.is_leaf or cap.source == "watch"):
        # in the graph of the output, and no backward ran (or it keeps no .grad, or this is watch's graph,
        # taken as the first backward begins): nothing to check here
        if cap.source == "watch":
            return Cause.ok, None, NoGradField("watch")
        return Cause.ok, None, NoGradField("not_leaf" if cap.backward_calls else "no_backward")
    return Cause.unused, None, Nothing()


def _arrived(t: Target, ctx: _Context) -> tuple[Cause, Site | None, Evidence]:
    """A gradient arrived: was it kept, and is it usable?"""
    kept = t.grad_state
    taken = t.consumed and kept == GradState.none  # a hook took it during backward: not cleared
    if (
        not taken
        and not t.returned
        and not t.stepped  # an optimizer step read it before it was cleared: used, not lost
        and t.is_leaf
        and kept in (GradState.none, GradState.zero)
        and kept != t.delivered
    ):
        clear = ctx.last_clear_record(t.bit)
        if clear is not None or kept == GradState.none:
            site = clear.site if clear is not None else None
            return Cause.cleared, site, Cleared(site, clear.how if clear is not None else "")
    spoiled = next((r for r in ctx.nonfinite_roots if r.values & t.bit), None)  # a NaN loss it helped compute
    if t.delivered == GradState.nonfinite:
        index = t.birth
        if index < 0 and spoiled is not None:  # its node was not walked (a reentrant checkpoint's inside):
            index = spoiled.birth  # the NaN of the loss it helped compute is what reached it
        birth = ctx.cap.births[index] if index >= 0 else None
        return Cause.nonfinite, birth.site if birth else None, Born(birth)
    if spoiled is not None:
        birth = ctx.cap.births[spoiled.birth] if spoiled.birth >= 0 else None
        evidence = LossNonfinite("inf" if spoiled.nonfinite == "inf" else "nan", birth)
        return Cause.nonfinite, birth.site if birth else None, evidence
    if kept == GradState.nonfinite and t.delivered in (GradState.finite, GradState.zero) and not t.failed:
        # the NaN/Inf is in .grad, not in what arrived: an old value from before the trace, or a sum that
        # overflowed (never "ok": the step reads .grad)
        return Cause.nonfinite, None, AddedUp(t.grad_before, ctx.cap.backward_calls)
    if t.delivered == GradState.zero:
        mechanism = ctx.graph.zero_mechanism(t)
        return Cause.zero, mechanism.site, mechanism
    if kept == GradState.zero and t.delivered == GradState.finite and ctx.cap.backward_calls > 1:
        # non-zero gradients of several backwards, accumulated in .grad, added up to exactly zero
        return Cause.zero, None, ZeroWhy("summed", paths=ctx.cap.backward_calls)
    if t.in_optimizer is False:  # how it meets the trained tensors says which fix fits (a target network)
        role = ctx.intent.role(t)
        return Cause.not_in_optimizer, role.site if role.kind != "beside" else None, Untrained(role)
    if taken:
        return Cause.ok, None, Consumed()
    if (
        kept == GradState.zero
        and t.delivered == GradState.finite
        and t.is_leaf
        and not t.returned
        and not t.stepped
    ):
        # a finite gradient arrived and .grad is zeros, by no write gradviz saw: never "ok"
        return Cause.cleared, None, Cleared(None, "unseen")
    if t.stepped and kept in (GradState.none, GradState.zero) and kept != t.delivered:
        return Cause.ok, None, StepRead(ctx.last_clear(t.bit))
    return Cause.ok, None, Unreadable() if t.delivered == GradState.unknown else Nothing()
