"""What one cut alone keeps from learning: ``Trace.without``, read from the shadows the tracer recorded
(NOTE [what would learn without a cut] in capture/_lineage.py), with no re-run."""

from __future__ import annotations

from gradviz.records import Capture, Cause, Cut, CutHow, Site, WhatIf
from gradviz.verdicts._text import at, code

__all__ = ["removable", "without"]

_WORDS = {
    Cause.detach: "the .detach()",
    Cause.data: "the .data",
    Cause.no_grad: "gradients off",
    Cause.checkpoint: "the reentrant checkpoint",
    Cause.non_differentiable: "an op with no gradient",
    Cause.escaped: "values taken out of torch",
}


def removable(cut: Cut) -> str:
    """Why ``cut`` cannot be replaced by an identity in thought ("" when it can)."""
    if cut.retracted:
        return "it turned out not to be a cut (an autograd.Function attached a gradient to its result)"
    if cut.group < 0:
        if cut.how is CutHow.grad_without_graph:
            return "the gradients autograd.grad returned carry no graph: pass create_graph=True instead"
        if cut.kind is Cause.escaped:
            return "its values left torch (.item(), .tolist(), numpy); no identity puts them back"
        return "gradviz did not follow where its values went"
    if cut.kind is Cause.non_differentiable:
        return f"{cut.op} has no gradient to let through; the fix replaces it with a differentiable op"
    return ""


def _what(kind: Cause, op: str, site: Site | None, how: CutHow = CutHow.op) -> str:
    if how is CutHow.rebuilt:
        words = "the new tensor made from values"
    elif kind is Cause.non_differentiable:
        words = f"{op} (no gradient)"
    else:
        words = _WORDS.get(kind, kind.value)
    return f"{words}{at(site)}{code(site)}"


def without(cap: Capture, index: int) -> WhatIf:
    """What cut ``index``'s group alone keeps from the loss. ValueError for a cut that cannot be removed
    in thought (:func:`removable` says why)."""
    if not 0 <= index < len(cap.cuts):
        raise ValueError(f"no cut {index}: this trace recorded {len(cap.cuts)} cuts.")
    first = cap.cuts[index]
    why = removable(first)
    if why:
        raise ValueError(f"cut {index} ({first.op}{at(first.site)}) cannot be removed in thought: {why}.")
    group = first.group
    cuts = [c for c in cap.cuts if c.group == group and not c.retracted]
    lost = 0
    for c in cuts:
        lost |= c.lost
    # learning already: reached by a backward that asked for it (an autograd.grad call that asked for other
    # tensors leaves not_requested set, though another backward delivered)
    now = sum(t.bit for t in cap.targets if t.reached and (t.not_requested is None or t.delivered))
    would = values = 0
    for root in cap.roots:
        values |= root.values
        would |= root.shadow.get(group, 0) & (-1 if root.asked_all else root.asked)
    reached = would & ~now
    result = WhatIf(
        group,
        tuple(c.index for c in cuts),
        first.kind,
        first.op,
        first.site,
        _what(first.kind, first.op, first.site, first.how),
    )
    result.reached = cap.names(reached)
    result.lost = cap.names(lost)
    for t in cap.targets:
        if not (lost >> t.index & 1) or (reached | now) >> t.index & 1:
            continue
        again = [r for r in cap.recuts if r.groups.get(group, 0) >> t.index & 1]
        cuts_too = [r for r in again if r.kind is not Cause.unknown]
        if cuts_too:
            others = "; ".join(dict.fromkeys(_what(r.kind, r.op, r.site) for r in cuts_too))
            result.still[t.name] = f"another cut stops it too: {others}"
        elif again:  # its path goes through code whose gradient paths gradviz cannot read
            unseen = again[0]
            result.still[t.name] = (
                f"not known: its path goes through {unseen.op}{at(unseen.site)}, whose gradient paths "
                "gradviz cannot read (confirm=True runs the step without the cut)"
            )
        elif not values >> t.index & 1:
            result.still[t.name] = "its values reach no loss that is backpropagated"
        elif any(root.shadow.get(group, 0) >> t.index & 1 for root in cap.roots):
            result.still[t.name] = (
                "the backward that uses it asked for other tensors (inputs= / autograd.grad)"
            )
        else:
            result.still[t.name] = "another cut on its path that gradviz cannot undo in thought"
    return result
