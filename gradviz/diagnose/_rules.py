"""Decide each target's cause from a Capture. Pure functions over plain data.

The order of the rules is the order in which a person should fix things: a frozen or unregistered
tensor first, then a gradient that arrived and was thrown away, then the value of the gradient, then
why no gradient arrived at all.
"""

from __future__ import annotations

import math

from gradviz.capture._records import Capture, Cut, Site, Target
from gradviz.diagnose._causes import Cause, Verdict
from gradviz.diagnose._messages import explain
from gradviz.diagnose._paths import GraphIndex


def decide(cap: Capture) -> dict[str, Verdict]:
    ctx = _Context(cap)
    return {t.name: _verdict(t, ctx) for t in cap.targets}


class _Context:
    def __init__(self, cap: Capture) -> None:
        self.cap = cap
        self.graph = GraphIndex(cap)
        self.root_values = 0
        self.root_cuts: list[Cut] = []
        for root in cap.roots:
            self.root_values |= root.values
            for i in root.cuts:
                cut = cap.cuts[i]
                if not cut.retracted and cut not in self.root_cuts:
                    self.root_cuts.append(cut)
        self.escape_cuts = [cap.cuts[i] for i in cap.escape_cuts if not cap.cuts[i].retracted]

    def cut_for(self, bit: int) -> Cut | None:
        """The cut that explains why a target's value reached the loss without its gradient."""
        for cut in self.root_cuts:
            if cut.lost & bit:
                return cut
        if not self.root_values & bit and self.cap.escaped & bit:
            # the value left torch (.numpy(), .item()) and came back as a tensor the tracer cannot link
            for cut in self.escape_cuts:
                if cut.lost & bit:
                    return cut
        if self.root_values & bit:
            for cut in self.cap.cuts:  # lineage lost track of it: any cut of this target explains it
                if cut.lost & bit and not cut.retracted:
                    return cut
        return None

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
    if t.grad_seen is not None and (t.grad_norm is None or (t.grad_norm == 0 and t.grad_seen != 0)):
        site = ctx.last_clear(t.bit)
        if site is not None or t.grad_norm is None:
            return Cause.cleared, site, None
    if t.grad_norm is not None:
        if not math.isfinite(t.grad_norm):
            node = ctx.graph.nonfinite_source(t.node)
            return Cause.nonfinite, ctx.graph.site_of(node), node
        if t.grad_norm == 0:
            node = ctx.graph.zero_source(t.node)
            return Cause.zero, ctx.graph.site_of(node), node
        if t.in_optimizer is False:
            return Cause.not_in_optimizer, None, None
        return Cause.ok, None, None
    # no gradient arrived
    cut = ctx.cut_for(t.bit)
    if cut is not None:
        return Cause(cut.kind), cut.site, cut
    if cap.error is not None:
        return Cause.error, cap.error.blame or cap.error.site, cap.error
    if t.reached:
        # reached by the graph, yet no .grad: no backward ran, or autograd.grad() returned it instead
        return Cause.ok, None, "no_grad_field"
    return Cause.unused, None, None
