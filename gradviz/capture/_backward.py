"""A backward call inside a trace: walk its graph, see what it delivers to each target, blame its errors.

# NOTE [delivered, not reached]
# A target's AccumulateGrad node being in the graph does not mean a gradient arrived: a custom
# ``autograd.Function`` may return None for it, and a ``.grad`` left from an earlier step is there whether
# or not this backward adds anything. So, per backward call:
#   - a target whose ``.grad`` is None when backward starts: what arrived is its ``.grad`` afterwards
#     (AccumulateGrad stores the incoming gradient), or nothing if ``.grad`` is still None;
#   - a target whose ``.grad`` is already set (a value from before): a pre-hook on its AccumulateGrad node
#     sees the incoming gradient itself (None when nothing arrives). Only these few get a hook.
# ``autograd.grad`` (also inside ``torch.func.grad``) returns gradients instead of storing them: those count
# as delivered, with ``Target.returned`` set, measured on the returned tensors.
"""

from __future__ import annotations

import weakref
from typing import Any, Protocol

import torch

from gradviz.capture import _graph
from gradviz.capture._arrivals import (
    NOT,
    OUTER,
    Several,
    arrival_hook,
    as_norm,
    came_through,
    grad_of,
    state_of,
    task_hook,
    unseen_nonfinite_at,
)
from gradviz.capture._backward_args import (
    asked_for,
    grad_inputs,
    is_wrapped,
    retains_graph,
    root_tensors,
    unwrap_functorch,
)
from gradviz.capture._backward_grads import GradBook
from gradviz.capture._backward_marks import BackwardMarks
from gradviz.capture._backward_writes import BackwardWrites
from gradviz.capture._errors import classify_backward_error, saved_and_changed
from gradviz.capture._failsafe import FailSafe
from gradviz.capture._finite import FiniteWatch
from gradviz.capture._locate import locate_target_births
from gradviz.capture._norms import norms_and_states
from gradviz.capture._oplog import OpLog
from gradviz.capture._targets import Watched
from gradviz.records import Capture, GradState, Root, Site


class _TracerView(Protocol):
    finite: FiniteWatch | None
    log: OpLog

    def op_of_node(self, sequence_nr: int) -> int: ...

    def run(self, func: Any, args: tuple, kwargs: dict) -> Any: ...

    def returned_gradients(
        self, roots: list[torch.Tensor], grads: list[torch.Tensor], graph: bool, site: Site | None
    ) -> None: ...


class Owner(Protocol):
    """What a backward call needs of the session that owns it (``capture._session.Session``)."""

    cap: Capture
    failsafe: FailSafe
    node_norms: bool
    watched: list[Watched]
    tracer: _TracerView

    def root(self, tensor: torch.Tensor, site: Site | None, node: str | None, call: str) -> Root: ...

    def target_map(self) -> dict[int, tuple[torch.Tensor, int]]: ...


class BackwardCalls(GradBook):
    """Owned by a Session: handles each ``backward()`` / ``autograd.grad()`` the tracer intercepts."""

    s: Owner

    def __init__(self, session: Owner, marks: BackwardMarks) -> None:
        self.s = session
        self.marks_for_tracer = marks
        self.first = True
        self.marks: dict[int, tuple[int, int]] = {}
        self._stepped: dict[int, tuple[int, torch.Tensor]] = {}  # see _steppable
        # id(grad) -> (grad, version, norm, state) measured after the last backward: not re-read at the end
        self.known: dict[int, tuple[torch.Tensor, int, float | None, GradState]] = {}

    def __call__(self, func, name: str, args: tuple, kwargs: dict, site: Site | None):
        s = self.s
        roots = root_tensors(name, args, kwargs)
        if any(is_wrapped(r) for r in roots):
            return self._functorch(func, name, args, kwargs)
        call = "autograd.grad" if name == "grad" else "backward"
        again = any(self.marks_for_tracer.is_root(r) for r in roots)
        if s.tracer.finite is not None:
            s.tracer.finite.settle()
        stale = self._stale_grads()
        arrived: dict[int, Any] = {}
        tasks: dict[int, int] = {}  # target index -> graph task of its first arrival; OUTER -> this call's
        clocks: dict[int, list[int]] = {}  # target index -> when each arrival came (_arrivals.tick)
        walk = _graph.walk(
            [r.grad_fn for r in roots],
            s.target_map(),
            s.tracer.op_of_node,
            hook_norms=s.node_norms,
            watch=lambda index: arrival_hook(arrived, tasks, index, s.failsafe, clocks),
            fn_targets=self._fn_targets(),
            passes=s.tracer.log.same_shapes,
            failsafe=s.failsafe,
        )
        root_fn = next((r.grad_fn for r in roots if r.grad_fn is not None), None)
        if walk.accumulators and root_fn is not None:  # to tell arrivals in this backward from nested ones
            walk.handles.append(root_fn.register_prehook(task_hook(tasks)))
        asked = asked_for(func, name, args, kwargs)
        for r, node in zip(roots, walk.roots, strict=True):
            self.marks_for_tracer.roots[id(r)] = weakref.ref(r)
            root = s.root(r, site, node, call)
            root.asked_all = asked is None
            if asked is not None:
                known = s.target_map()
                root.asked = sum(1 << known[i][1] for i in asked if i in known)
            s.cap.roots.append(root)
        result = None
        cleared = self._cleared_before()
        clears_before = len(s.cap.clears)  # (a hook may zero a .grad during the backward: a clear after it)
        versions = [w.tensor._version for w in s.watched]  # a hook that steps a weight changes its version
        before = {w.target.index: w.target.delivered for w in s.watched}
        self._stepped = self._steppable(walk)
        failed = False
        try:
            writes = BackwardWrites(s.cap, s.failsafe)
            watched = [w.tensor for w in s.watched]
            with writes.during(watched, walk.functions):  # NOTE [writes during a backward]
                result = s.tracer.run(func, args, kwargs)
            # a call asked for some inputs frees only the nodes between its roots and them: not tracked
            if asked is None and not retains_graph(func, name, args, kwargs):
                marks = self.marks_for_tracer
                marks.freed_at, marks.freed_by, marks.fresh = len(s.tracer.log), site, False
                marks.freed_nodes = marks.freed_nodes | walk.node_seqs
            return result
        except Exception as exc:
            failed = True
            if s.cap.error is None:
                try:
                    freed_by = self.marks_for_tracer.freed_by
                    fresh = self.marks_for_tracer.fresh
                    saved_at = saved_and_changed(roots, s.tracer.op_of_node) if "inplace" in str(exc) else -1
                    s.cap.error = classify_backward_error(exc, site, s.cap, again, freed_by, fresh, saved_at)
                except Exception as internal:  # NOTE [fail-safe]: the user's error goes on unchanged
                    s.failsafe.fail(internal, "error classifier")
            raise
        finally:
            try:
                walk.finish()
                self._absorb(walk)
                self._after(walk, stale, arrived, failed, tasks.get(OUTER), clocks)
                locate_target_births(s.cap)  # from this backward's graph, before a later one replaces it
                if asked is not None:
                    self._not_requested(walk, asked, site, call)
                if name == "grad" and result is not None:
                    self._returned(grad_inputs(args, kwargs), result)
                    grads = [
                        g
                        for g in (result if isinstance(result, (tuple, list)) else (result,))
                        if g is not None
                    ]
                    graph = bool(kwargs.get("create_graph", args[4] if len(args) > 4 else False))
                    s.tracer.returned_gradients(roots, grads, graph, site)
                if failed:  # what this backward should have delivered and did not: lost to its error
                    outer = tasks.get(OUTER)
                    for w in s.watched:
                        t = w.target
                        if walk.reached >> t.index & 1 and (
                            (t.delivered == before[t.index] and not self._got(t, arrived))
                            # or only a backward run inside a node's (a reentrant checkpoint's) delivered:
                            # the part the walked graph owed it was lost to the error
                            or (
                                t.index in walk.accumulators
                                and not came_through(t.index, arrived, tasks, outer)
                            )
                        ):
                            t.failed = True
                self._refilled(cleared, clears_before)
                self._stepped_during(versions)
            except Exception as internal:  # NOTE [fail-safe]: never in place of the user's error or result
                s.failsafe.fail(internal, "backward bookkeeping")

    # -- before --------------------------------------------------------------------------------------------

    def _fn_targets(self) -> dict[int, tuple[Any, int]] | None:
        """Non-leaf targets (a tensor passed by name, a .to() copy): their grad_fn, held for the walk."""
        found = {}
        for w in self.s.watched:
            fn = None if w.tensor.is_leaf else w.tensor.grad_fn
            if fn is not None:
                found[id(fn)] = (fn, w.target.index)
        return found or None

    def _stale_grads(self) -> set[int]:
        """Targets whose .grad is already set as this backward starts; on the trace's first backward, the
        norms of those values are kept (``Target.grad_before``: a gradient from before the trace)."""
        stale = [w for w in self.s.watched if grad_of(w.tensor) is not None]
        # for targets this walk cannot hook (their accumulator is only in a graph a custom Function or a
        # reentrant checkpoint builds during backward): did the .grad change?
        self.marks = {
            w.target.index: (id(g), g._version) for w in stale if (g := grad_of(w.tensor)) is not None
        }
        if self.first:
            self.first = False
            norms, _ = norms_and_states([g for w in stale if (g := grad_of(w.tensor)) is not None])
            for w, norm in zip(stale, norms, strict=True):
                w.target.grad_before = norm
        return {w.target.index for w in stale}

    # -- after ---------------------------------------------------------------------------------------------

    def _absorb(self, walk: _graph.Walk) -> None:
        cap = self.s.cap
        for birth in cap.births:  # births located on the previous graph: their nodes are not drawn now
            if birth.phase == "backward":
                birth.node = None
        cap.graph = walk.nodes
        if walk.truncated and not cap.graph_truncated:
            cap.graph_truncated = True
            cap.notes.append(f"The backward graph has over {len(walk.nodes):,} nodes: only those were drawn.")
        if walk.too_deep and not cap.graph_truncated:
            cap.graph_truncated = True
            cap.notes.append(
                f"The backward graph is more than {_graph.DEPTH_LIMIT:,} nodes deep: it was drawn down to "
                "that depth (walking deeper chains can crash torch when it frees them); verdicts are not "
                "affected."
            )
        cap.backward_calls += 1
        for target in cap.targets:
            if walk.reached >> target.index & 1:
                target.reached = True
        for node in walk.nodes:
            if node.target >= 0:
                cap.targets[node.target].node = node.id

    def _after(
        self,
        walk: _graph.Walk,
        stale: set[int],
        arrived: dict[int, Any],
        failed: bool,
        outer: int | None,
        clocks: dict[int, list[int]],
    ) -> None:
        """Record what arrived at each target (NOTE [delivered, not reached]) and the final norms."""
        s = self.s
        keeps = [w for w in s.watched if w.tensor.is_leaf or w.tensor.retains_grad]
        fresh = [w for w in keeps if w.target.index not in stale]
        self.known = {}
        have = []
        for w in fresh:
            g = grad_of(w.tensor)
            raw = arrived.get(w.target.index, NOT)
            if g is None:
                # (a backward that raised may have shown a gradient to the hook and stopped before storing it)
                if raw is not NOT and raw is not None and not failed:
                    # it arrived and .grad is None as backward returns: a hook consumed it (an optimizer
                    # step in register_post_accumulate_grad_hook, which then sets p.grad = None)
                    w.target.consumed = True
                    if isinstance(raw, Several):
                        self._deliver(w.target, *raw.worst())
                    else:
                        norm = as_norm(raw)
                        self._deliver(w.target, state_of(norm), norm)
                continue
            if raw is NOT or isinstance(raw, torch.Tensor) or raw is None or isinstance(raw, Several):
                have.append((w, g))  # not seen by a hook (or not on the CPU): measured now, batched
                continue
            # its accumulator's hook measured what arrived, in cache, and .grad was None: .grad is that,
            # unless a post-accumulate-grad hook changed it since (then the end of the trace measures it)
            st = state_of(raw)
            self._deliver(w.target, st, raw)
            if not getattr(w.tensor, "_post_accumulate_grad_hooks", None):
                self.known[id(g)] = (g, g._version, raw, st)
        norms, states = norms_and_states([g for _, g in have])
        for (w, g), norm, state in zip(have, norms, states, strict=True):
            st = GradState.unknown if state is None else GradState(state)
            self._deliver(w.target, st, norm)
            self.known[id(g)] = (g, g._version, norm, st)
        self._consumed_unseen()
        unhooked = []
        for index in stale:
            raw = arrived.get(index)
            if isinstance(raw, Several):  # what each arrival brought, not the old value they were added to
                self._deliver(s.cap.targets[index], *raw.worst())
            elif index in arrived:
                norm = as_norm(raw)
                self._deliver(s.cap.targets[index], state_of(norm), norm)
            elif index not in walk.accumulators:
                g = grad_of(s.watched[index].tensor)
                if g is not None and (id(g), g._version) != self.marks.get(index):
                    unhooked.append((index, g))  # it changed: something was added to the old value
        if unhooked:
            norms, states = norms_and_states([g for _, g in unhooked])
            for (index, _), norm, state in zip(unhooked, norms, states, strict=True):
                # the final .grad's state: what arrived cannot be told apart from the old value here
                self._deliver(
                    s.cap.targets[index], GradState.unknown if state is None else GradState(state), norm
                )
        self.marks_for_tracer.grads = {
            id(g): w.target.index for w in keeps if (g := grad_of(w.tensor)) is not None
        }
        for target_index, node_index in walk.accumulators.items():
            raw = arrived.get(target_index)
            if isinstance(raw, Several) and outer is not None:
                # its node shows what came through the graph walked: the rest came from a backward run
                # inside a node's (a reentrant checkpoint's), whose own graph is out of sight
                walk.nodes[node_index].grad_norm = raw.worst(outer)[1]
                at = unseen_nonfinite_at(raw, clocks.get(target_index, []), outer)
                if at >= 0:
                    s.cap.targets[target_index].unseen_nonfinite_at = at
            else:
                walk.nodes[node_index].grad_norm = s.cap.targets[target_index].delivered_norm
        walk.resolve()
        for node in walk.nodes:  # a non-leaf target that keeps no .grad: its node saw its gradient
            if node.target >= 0 and node.target not in walk.accumulators:
                w = s.watched[node.target]
                if not (w.tensor.is_leaf or w.tensor.retains_grad) and node.grad_norm is not None:
                    self._deliver(w.target, state_of(node.grad_norm), node.grad_norm)

    def _not_requested(self, walk: _graph.Walk, asked: set[int], site: Site | None, call: str) -> None:
        """A backward asked for some inputs only: the targets it reached and was not asked for. A
        ``backward(inputs=...)`` of a loss names it over an ``autograd.grad`` that also left it out: that one
        is a step of the computation (a gradient penalty, an inner derivative), the backward is the training
        step that did not ask for it."""
        for w in self.s.watched:
            t = w.target
            named = t.not_requested is not None and (call != "backward" or t.not_requested_by == "backward")
            if walk.reached >> t.index & 1 and id(w.tensor) not in asked and not named:
                t.not_requested, t.not_requested_by = site, call

    def _got(self, target, arrived: dict[int, Any]) -> bool:
        """Whether this backward delivered anything to ``target`` (its .grad was filled, or its hook saw a
        gradient)."""
        if target.index in arrived:
            return True
        return id(grad_of(self.s.watched[target.index].tensor)) in self.known

    def _returned(self, inputs: list[torch.Tensor], result: Any) -> None:
        """autograd.grad returned gradients for ``inputs``: those are delivered to the targets among them
        (a None, with ``allow_unused=True``, is nothing delivered)."""
        outputs = result if isinstance(result, (tuple, list)) else (result,)
        target_of = {id(w.tensor): w.target for w in self.s.watched}
        got = []
        for x, g in zip(inputs, outputs, strict=False):
            target = target_of.get(id(unwrap_functorch(x))) if isinstance(x, torch.Tensor) else None
            if target is not None:
                target.returned = True
                if isinstance(g, torch.Tensor):
                    got.append((target, unwrap_functorch(g)))
        with torch._C._DisableFuncTorch():  # inside a transform, even plain tensors' ops would be wrapped
            norms, states = norms_and_states([g for _, g in got])
        for (target, _), norm, state in zip(got, norms, states, strict=True):
            self._deliver(target, GradState.unknown if state is None else GradState(state), norm)

    def _functorch(self, func, name: str, args: tuple, kwargs: dict):
        """autograd inside a functorch transform (``torch.func.grad``): its graph and hooks belong to the
        transform; only which targets got a gradient back is recorded."""
        result = self.s.tracer.run(func, args, kwargs)
        self.s.cap.backward_calls += 1
        if name == "grad":
            self._returned(grad_inputs(args, kwargs), result)
        return result
