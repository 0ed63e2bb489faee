"""The Tracer's part that records cuts: why a result lost its gradient path at an op (the cause, and the
user's line), and the cuts an autograd.Function (or a reentrant checkpoint) turns out not to have made."""

from __future__ import annotations

from typing import Any

import torch

from gradviz.capture import _frames
from gradviz.capture._ops import Kind
from gradviz.capture._tracer_part import TracerPart
from gradviz.records import Cause, Cut, CutHow, Site

_next_node_nr = torch._C._autograd._get_sequence_nr
_is_inference = torch.is_inference_mode_enabled
_SITES = _frames.SITES


class Cuts(TracerPart):
    """Mixed into the Tracer: its cut records."""

    _grad_off: tuple[Site | None, Site | None]
    # cut index -> the node number of the autograd.Function (or reentrant checkpoint) whose forward made it
    _function_of_cut: dict[int, int]

    def _cause(
        self, kind: Kind, grad_on: bool, site: Site | None, caller_index: int
    ) -> tuple[Cause, CutHow, Site | None, Site | None]:
        """(cause, how, where, op_site) of a result that lost its gradient path at this op. ``where`` is
        the user's line; ``op_site`` the op's own line when that is another (a library line, a line inside
        a no_grad block)."""
        where, op_site = (_SITES[caller_index], site) if caller_index else (site, None)
        if kind is Kind.DETACH:
            return Cause.detach, CutHow.op, where, op_site
        if kind is Kind.DATA:
            return Cause.data, CutHow.op, where, op_site
        if kind is Kind.ESCAPE:
            return Cause.escaped, CutHow.op, where, op_site
        if kind is Kind.CREATE:  # torch.tensor([t1, t2]): values copied into a new tensor with no history
            return Cause.escaped, CutHow.rebuilt, where, op_site
        if grad_on:
            return Cause.non_differentiable, CutHow.op, where, op_site
        # Deep stack walks are fine here: ops with gradients off are rare in a forward.
        checkpoint = _frames.checkpoint_site(4)
        if checkpoint is not None:
            return Cause.checkpoint, CutHow.reentrant, checkpoint[0], checkpoint[1] or site
        function = _frames.function_site(4)
        if function is not None:  # inside autograd.Function.forward: retracted if apply() links it
            # apply() made the Function's node (its ctx) just before running forward, which makes no
            # nodes of its own (gradients are off): that node's number is the counter's last value
            if function[0] is not None:  # no user line above apply(): nothing to record (get() gives None)
                self.cap.functions.setdefault(_next_node_nr() - 1, function[0])
            return Cause.no_grad, CutHow.in_function, where, op_site
        if _is_inference():
            return Cause.no_grad, CutHow.inference_mode, where, op_site
        off = self._grad_off[0]
        if off is None:
            return Cause.no_grad, CutHow.op, where, op_site
        return Cause.no_grad, CutHow.grad_switch, off, op_site or site

    def _cut(
        self,
        name: str,
        cause: Cause,
        how: CutHow,
        site: Site | None,
        lost: int,
        index: int,
        op_site: Site | None = None,
    ) -> int:
        cut = Cut(
            index=len(self.cap.cuts),
            kind=cause,
            op=name,
            lost=lost,
            site=site,
            module=self.modules[-1] if self.modules else "",
            how=how,
            op_index=index,
            op_site=op_site,
        )
        self.cap.cuts.append(cut)
        if how is CutHow.in_function or cause is Cause.checkpoint:
            # inside the Function's forward (gradients off: no node made since apply() made the Function's)
            self._function_of_cut[cut.index] = cut.node_seq = _next_node_nr() - 1
        return cut.index

    def lineage_of(self, t: torch.Tensor) -> tuple[int, int, tuple[int, ...]] | None:
        """(values, grads, cuts) of ``t``'s lineage, for a tensor that reaches code no op of which is seen
        (a TorchScript module, a loss): the cuts a Function attached a gradient to since are taken back, as
        when an op takes it (``_revive``). None: not recorded."""
        entry = self.lineage.get(t)
        if entry is None:
            return None
        values, grads, cuts = entry[1], entry[2], entry[3]
        if values and not grads and t.grad_fn is not None:
            grads, cuts = self._revive(t, values, cuts)
        return values, grads, cuts

    def _revive(self, t: torch.Tensor, values: int, cuts: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
        """A tensor recorded as cut now has a grad_fn: an autograd.Function (or reentrant checkpoint)
        attached it after its forward ran with gradients off. The cuts made inside the forward of a Function
        whose node is on its gradient path were not real; any other cut it carries (one made before, by
        another Function whose output got no node: a reentrant checkpoint fed no gradient) stays."""
        made_in = {self._function_of_cut[i] for i in cuts if i in self._function_of_cut}
        linked = _reachable(t.grad_fn, made_in) if made_in else set()
        kept = []
        for i in cuts:
            if self._function_of_cut.get(i, -1) in linked:
                self.cap.cuts[i].retracted = True
            else:
                kept.append(i)
        entry = self.lineage.get(t)
        made_by = entry[4] if entry is not None else -1
        shadow = self.lineage.shadow(t)  # (what would learn without a cut is not changed by this)
        self.lineage.set(t, values, values, tuple(kept), made_by)
        if shadow:
            self.lineage.set_shadow(t, shadow)
        return values, tuple(kept)


_REACH_LIMIT = 10_000  # autograd nodes walked to find a Function's node under a tensor


def _reachable(fn: Any, numbers: set[int]) -> set[int]:
    """Which of the node numbers ``numbers`` are on the graph under ``fn`` (nodes numbered below the
    smallest of them are not walked: they were made before any of those)."""
    low = min(numbers)
    found: set[int] = set()
    seen: set[int] = set()
    stack = [fn]
    while stack and len(seen) < _REACH_LIMIT and found != numbers:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        number = node._sequence_nr()
        if number in numbers:
            found.add(number)
        if number >= low:
            stack.extend(child for child, _ in node.next_functions)
    return found
