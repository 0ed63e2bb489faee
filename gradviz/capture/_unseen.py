"""The tracer's part for code it cannot see into (TorchScript modules, torch.compile'd regions, ops of C++
extensions), for gradients autograd.grad returns, and for state carried from a freed graph."""

from __future__ import annotations

import weakref
from typing import Any

import torch

from gradviz.capture import _frames
from gradviz.capture._lineage import merge, tensors_in, tensors_out
from gradviz.capture._script_paths import script_paths
from gradviz.capture._shadow import union
from gradviz.capture._tracer_part import TracerPart
from gradviz.records import Carried, Cause, CutHow, Recut, Site

_UNSEEN_LIMIT = 20_000  # autograd nodes walked for a tensor made out of sight (deep chains: see _graph.py)


class OutOfSight(TracerPart):
    """Mixed into the Tracer: lineage where no op of the forward was seen."""

    _carried: dict[int, Any]
    _prints: list[Any]
    _start_seq: int
    _used: int

    def _first_use(self, new: int, index: int) -> None:
        raise NotImplementedError

    def opaque_output(self, module: Any, targets: int, args: Any, output: Any) -> None:
        """A TorchScript module returned ``output``: the tracer saw none of the ops inside it. Its outputs
        depend on what its inputs depend on and on the parameters it holds (``targets``), through autograd
        where they require grad. Module hooks run inside the mode: no torch op here."""
        values = targets
        grads = 0
        cuts: tuple[int, ...] = ()
        ins = tensors_in(args if isinstance(args, tuple) else (args,), {})
        unknown = []
        for t in ins:
            entry = self.lineage_of(t)
            if entry is not None:
                values |= entry[0]
                grads |= entry[1]
                cuts = merge(cuts, entry[2])
            else:
                unknown.append(t)
        if unknown and self._prints:  # values that left torch may come back straight into it
            back, back_cuts = self._came_back(unknown, (), {})
            values |= back
            cuts = merge(cuts, back_cuts)
        if self.finite is not None and self.finite.tainted:  # a NaN that went in comes out from there
            self.finite.propagate(max(len(self.log) - 1, 0), ins, tensors_out(output))
        index = max(len(self.log) - 1, 0)  # never -1, which marks a target's own entry
        if targets & ~self._used:
            self._first_use(targets & ~self._used, index)
        site = None
        for target in self.cap.targets:  # where its output is seen: the call of the TorchScript module
            if targets >> target.index & 1 and target.opaque_site is None:
                site = site or _frames.user_site()
                target.opaque_site = site
        outs = tensors_out(output)
        if grads | targets and outs and not any(o.requires_grad for o in outs):
            # what went in had gradients and nothing comes out with one: cut inside, where no op is seen
            call = _frames.user_site()
            lost = self._cut(
                type(module).__name__, Cause.non_differentiable, CutHow.hidden, call, grads | targets, index
            )
            cuts = merge(cuts, (lost,))
        for o in outs:
            self.lineage.set(o, values, (grads | targets) if o.requires_grad else 0, cuts, index)
        if self.lineage.shadows:
            self._opaque_shadows(module, args if isinstance(args, tuple) else (args,), outs, index)

    def _opaque_shadows(self, module: Any, args: tuple, outs: list[torch.Tensor], index: int) -> None:
        """The shadows (NOTE [what would learn without a cut]) a TorchScript module's outputs carry on from
        its inputs, along the gradient paths its graph holds (NOTE [gradient paths through TorchScript])."""
        given = [_union_all(self.lineage.shadow(t) for t in tensors_in((arg,), {})) for arg in args]
        if not any(given):
            return
        paths = script_paths(module, torch.is_grad_enabled())
        if paths is None or len(paths) != len(outs):  # not known: the what-if says so, guessing nothing
            unseen = _union_all(given)
            self.cap.recuts.append(Recut(index, _name(module), Cause.unknown, _frames.user_site(), unseen))
            return
        inside: dict[int, int] = {}  # the shadows a cut inside the module stops
        for o, (grads, values) in zip(outs, paths, strict=True):
            shadow = _union_all(given[i] for i in grads if i < len(given))
            if shadow:
                self.lineage.set_shadow(o, shadow)
            inside = union(inside, _union_all(given[i] for i in values - grads if i < len(given)))
        if inside:  # without the cut, a cut in there still stops them (recorded as another cut)
            name = f"a cut inside {_name(module)}"
            self.cap.recuts.append(Recut(index, name, Cause.non_differentiable, _frames.user_site(), inside))

    def returned_gradients(
        self, roots: list[torch.Tensor], grads: list[torch.Tensor], graph: bool, site: Site | None
    ) -> None:
        """autograd.grad returned ``grads``: their values depend on what the roots depend on, and only with
        ``create_graph=True`` do they carry a graph back to it. Without it, a loss computed from them
        (a gradient penalty) reaches none of those parameters through them: that call is the cut."""
        if self.finite is not None and self.finite.tainted:  # a NaN loss gives NaN gradients: the same NaN
            self.finite.propagate(max(len(self.log) - 1, 0), roots, grads)
        values = grads_bits = 0
        cuts: tuple[int, ...] = ()
        for r in roots:
            entry = self.lineage_of(r)
            if entry is not None:
                values |= entry[0]
                grads_bits |= entry[1]
                cuts = merge(cuts, entry[2])
        if not values:
            return
        if not graph and grads_bits:
            index = len(self.log) - 1
            lost = self._cut(
                "autograd.grad", Cause.no_grad, CutHow.grad_without_graph, site, grads_bits, index
            )
            cuts, grads_bits = merge(cuts, (lost,)), 0
        for g in grads:
            self.lineage.set(g, values, grads_bits if g.requires_grad else 0, cuts, len(self.log) - 1)

    def _maybe_carried(self, t: torch.Tensor, made_by: int = -1) -> None:
        """A tensor with autograd history from before the trace, or made before a backward that freed its
        graph (``made_by``: the op that made it): state carried across steps."""
        self._carried[id(t)] = weakref.ref(t)
        fn = t.grad_fn
        if fn is None:
            return
        if made_by >= 0 or fn._sequence_nr() < self._start_seq:
            self.cap.carried.append(
                Carried(
                    op=len(self.log),
                    site=_frames.user_site(),
                    shape=tuple(t.shape),
                    made_by=type(fn).__name__,
                )
            )
        else:
            self._unseen(t, fn)

    def _unseen(self, t: torch.Tensor, fn: Any) -> None:
        """A tensor with a graph, made during the trace by code the tracer did not see (a torch.compile'd
        region, an op of a C++ extension): the targets its graph reaches through autograd are what its value
        is known to depend on (see NOTE [invisible to torch.compile]). A walk past ``_UNSEEN_LIMIT`` nodes
        stops there: what it did not see is not claimed."""
        index_of = self.lineage.targets
        bits = 0
        seen: set[int] = set()
        stack = [fn]
        while stack and len(seen) < _UNSEEN_LIMIT:
            node = stack.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            variable = getattr(node, "variable", None)
            if variable is not None:
                index = index_of.get(id(variable))
                if index is not None:
                    bits |= 1 << index
                continue
            stack.extend(child for child, _ in node.next_functions)
        if bits:
            self.lineage.set(t, bits, bits, (), max(len(self.log) - 1, 0))
            site = None
            for target in self.cap.targets:
                if bits >> target.index & 1 and target.opaque_how and target.opaque_site is None:
                    site = site or _frames.user_site()
                    target.opaque_site = site


def _union_all(shadows: Any) -> dict[int, int]:
    out: dict[int, int] = {}
    for shadow in shadows:
        out = union(out, shadow)
    return out


def _name(module: Any) -> str:
    return f"TorchScript module {getattr(module, 'original_name', type(module).__name__)}"
