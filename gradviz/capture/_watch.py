"""Recording for :func:`gradviz.watch`: step hooks and the first backward pass (the norms of a step are
measured by _step_norms.py).

This is the only part of ``watch`` that touches live torch objects. It turns each recorded step into one
row of plain numpy data (:class:`gradviz.records._history.StepBuffer`).

# NOTE [numerics unchanged]
# Every tensor op here runs under torch.no_grad() and writes only to buffers this module owns (the
# snapshots). Parameters and gradients are read, never written; every hook returns None, except the step
# pre-hook of a step given a closure, which hands step() the same closure wrapped (it returns what the
# closure returns; NOTE [closure steps] in _closure_steps.py). Training with and without a Recorder is
# bitwise identical (tests/api/test_watch.py and tests/api/test_watch_setups.py check it).

# NOTE [hooks on the model]
# Nothing gradviz needs is registered on the user's module: whatever is there is copied by
# copy.deepcopy(model) (an EMA, a target network) and pickled by torch.save(model) / pickle.dumps(model),
# and a bound method of an object holding weakrefs cannot be pickled at all. The one module hook watch
# needs (the model's forward, to find the first backward's graph) is a process-wide forward hook
# (register_module_forward_hook), live only until the first backward or close(), that looks the module up
# by identity in a registry of weak references: a copy is another module, so it is not watched.
# Exception: dynamo guards on the global hooks, so every region compiled while that hook is live compiles
# once more after it is removed (and torch.compile(module) warns on each call that global hooks exist:
# filtered while gradviz's is live, _compiled.QuietCompileWarning; the registry: _listen.py). So a model
# that is or holds a compiled module
# gets a hook on the model itself instead, a module-level function looking up the same registry: for
# torch.compile(m) it sits on the OptimizedModule, outside the compiled code, and its copies and pickles are
# rebuilt from the inner module alone; a model holding compiled parts keeps that function, inert, in copies
# made before its first backward. A model compiled after watch() (mon = watch(model); model =
# torch.compile(model)) is heard through its wrapper's forward, and compiles once more after the first
# backward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils._pytree import tree_leaves
from torch.utils.hooks import RemovableHandle

from gradviz.capture._closure_steps import ClosureSteps, OpenStep, closure_of, with_closure
from gradviz.capture._failsafe import FailSafe
from gradviz.capture._headroom import HeadroomTracker
from gradviz.capture._listen import Listening
from gradviz.capture._norms import device_norms
from gradviz.capture._scopes import ForwardScopes
from gradviz.capture._skip import clear_if_nonfinite
from gradviz.capture._step_norms import Group, Key, Part, StepNorms
from gradviz.records import GradState, StepBuffer

__all__ = ["Recorder"]


class Recorder(StepNorms, ClosureSteps):
    """Hooks on an optimizer (or manual ``step()`` calls) that record gradient norms per step.

    ``params`` are the watched tensors, ``names`` their names. With an optimizer, a step pre-hook reads
    ``.grad`` (all backward passes since the last step, summed by autograd); when ``step()`` is given a
    closure, the gradients of its last evaluation instead (NOTE [closure steps]). On weight steps the
    pre-hook also reads the weights and snapshots them, and a post-hook measures the update. Without an
    optimizer, :meth:`step` reads the gradients, and on weight steps the update since the previous call.
    ``on_first_backward(node)`` is called once, when the first backward pass reaches the model's output
    node (the node itself, while the graph below it is still intact).
    """

    def __init__(
        self,
        names: list[str],
        params: list[torch.Tensor],
        *,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None,
        every: int,
        weights_every: int | None,
        max_steps: int | None,
        on_first_backward: Callable[[torch.autograd.graph.Node], None],
        buffer: StepBuffer | None = None,
        active: bool = True,
    ) -> None:
        self.names = names
        self.params = params
        self.every = every
        self.weights_every = weights_every
        self.buffer = buffer if buffer is not None else StepBuffer(names, max_steps, every, weights_every)
        self.active = active  # False: count steps only (a rank that neither records nor shares collectives)
        self.step_count = 0  # step boundaries seen since the start
        self.optimizer = optimizer
        self._on_first_backward = on_first_backward
        self.on_recorded: Callable[[], None] | None = None  # after each recorded row (the live widget)
        self.on_stopped: Callable[[], None] | None = None  # after an internal error stopped the recording
        # (step, untouched): the first row with a non-finite gradient was just recorded; untouched: the
        # optimizer has not stepped yet (NOTE [replaying a step] in _step_inputs.py)
        self.on_first_nonfinite: Callable[[int, bool], None] | None = None
        # on_nonfinite="skip" (NOTE [skipping a poisoned step] in _skip.py): the steps whose update it undid
        self.skip_nonfinite = False
        self.skipped: list[int] = []
        self.headroom = HeadroomTracker(names, self.params)  # NOTE [precision headroom] in _headroom.py
        self.failsafe = FailSafe()  # NOTE [fail-safe]: gradviz's own first error in a hook, if any
        self.stopped = False  # an internal error stopped the recording (NOTE [fail-safe])
        self.last_row: int | None = None  # the step of the latest row recorded
        self._announced = False
        self._open: OpenStep | None = None
        self._snapshots: dict[Key, list[torch.Tensor]] = {}
        self._groups_cache: list[Group] | None = None
        self._all_finite = np.full(len(params), GradState.finite, np.uint8)
        self._handles: list[RemovableHandle] = []
        self._node_handle: RemovableHandle | None = None
        self._listening: Listening | None = Listening(model, self) if active else None
        # which module ran each op of the first backward's graph (NOTE [placed by the forward], _scopes.py)
        self._scopes: ForwardScopes | None = ForwardScopes(model, self._failed) if active else None
        if optimizer is not None:
            self._pre_handle = optimizer.register_step_pre_hook(self._pre_step)
            self._post_handle = optimizer.register_step_post_hook(self._post_step)
            self._handles += [self._pre_handle, self._post_handle]
        elif self.weighs(0) and active:
            with torch.no_grad():
                self._snapshot(self._layout(fresh=True), self._all)  # the weights before the first update

    def weighs(self, step: int) -> bool:
        """Whether ``step`` measures weight norms and the update ratio."""
        if self.weights_every is None or step % self.every:
            return False
        return (step // self.every) % self.weights_every == 0

    # -- hooks -------------------------------------------------------------------------------------------

    def _pre_step(
        self, optimizer: torch.optim.Optimizer, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        if self.failsafe.broken:
            return None
        try:
            return self._before_step(args, kwargs)
        except Exception as internal:  # NOTE [fail-safe]: step() runs with its own arguments
            self._failed(internal, "optimizer step pre-hook", running=self._pre_handle)
            return None

    def _before_step(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        self._close_open()  # the previous optimizer.step() raised: keep what was measured
        step = self.step_count
        self.step_count += 1
        if step % self.every or not self.active:
            self._skip(step, args, kwargs)
            return None
        closure = closure_of(args, kwargs)
        weighs = self.weighs(step)
        if closure is None and not weighs:
            with torch.no_grad():
                self._record_gradients(step, untouched=True)
            self._skip(step, args, kwargs)
            return None
        open_ = OpenStep(step, None, [], None)
        with torch.no_grad():
            if weighs:
                open_.groups = groups = self._layout(fresh=True)
                planned = self._snapshot(groups, self._in_optimizer)
                open_.weights = [
                    (device_norms(self._tensors(g), g.acc), chosen)
                    for g, chosen in zip(groups, planned, strict=True)
                ]
            if closure is None:
                open_.parts = self._measure_open(open_)
                if self._first_bad(open_.parts):  # a weight step: announce it before the update
                    self._announce(step, untouched=True)
        self._open = open_
        self._skip(step, args, kwargs)
        if closure is None:
            return None
        return with_closure(args, kwargs, self._evaluating(open_, closure))

    def _post_step(self, optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        if self.failsafe.broken:
            return
        try:
            self._after_step()
        except Exception as internal:  # NOTE [fail-safe]
            self._failed(internal, "optimizer step post-hook", running=self._post_handle)

    def _after_step(self) -> None:
        open_, self._open = self._open, None
        if open_ is None:
            return
        with torch.no_grad():
            if open_.parts is None:  # a closure the step never called: the gradients it was given
                open_.parts = self._measure_open(open_)
            if open_.weights:
                for part, (_, planned) in zip(open_.parts, open_.weights, strict=True):
                    self._measure_update(part, planned)
        self._finish_open(open_)

    def _close_open(self) -> None:
        """Record a step whose ``optimizer.step()`` raised: its gradients and weights, no update."""
        open_, self._open = self._open, None
        if open_ is not None and open_.parts is not None:  # (a closure never evaluated: no gradients used)
            self._finish_open(open_)

    def _measure_open(self, open_: OpenStep) -> list[Part]:
        """The gradients' norms now, in the step's layout (a weight step's, else the last weight step's)."""
        return self._measure(open_.groups if open_.groups is not None else self._layout(fresh=False))

    def _finish_open(self, open_: OpenStep) -> None:
        assert open_.parts is not None
        if open_.weights:
            for part, (norms, planned) in zip(open_.parts, open_.weights, strict=True):
                part.param_norms, part.planned = norms, planned
        if open_.groups is not None:
            self._finish(open_.step, open_.parts)
            return
        try:  # as _record_gradients: a stale layout fails when the norms are stacked
            self._finish(open_.step, open_.parts)
        except RuntimeError:  # parameters moved to another device or dtype since: group them again
            self._finish(open_.step, self._measure(self._layout(fresh=True)))

    def step(self) -> None:
        """Manual step boundary: record the gradients now, and on weight steps the update since the last."""
        try:
            self._manual_step()
        except Exception as internal:  # NOTE [fail-safe]
            self._failed(internal, "step")

    def _manual_step(self) -> None:
        step = self.step_count
        self.step_count += 1
        if not self.active:
            return
        with torch.no_grad():
            if step % self.every == 0 and not self.weighs(step):
                self._record_gradients(step)
            elif step % self.every == 0:
                parts = self._measure(self._layout(fresh=True))
                for part in parts:
                    self._measure_update(part, self._all(part.group), weights_from_snapshot=True)
                self._finish(step, parts)
            if self.weighs(step + 1):
                self._snapshot(self._layout(fresh=True), self._all)

    def _skip(self, step: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """on_nonfinite="skip": a step (not a closure's) whose gradients are not finite changes nothing."""
        if self.skip_nonfinite and closure_of(args, kwargs) is None and clear_if_nonfinite(self.params):
            self.skipped.append(step)

    def before_update(self) -> None:
        """The gradients of the step ``step()`` will record next are complete and the optimizer has not
        updated the weights yet (a training callback's pre-optimizer-step event): announce it now if it
        holds the run's first NaN/Inf gradient, while the step can still be replayed."""
        step = self.step_count
        if not self.active or step % self.every or self.on_first_nonfinite is None or self._announced:
            return
        try:
            with torch.no_grad():
                try:
                    parts = self._measure(self._layout(fresh=False))
                except RuntimeError:  # parameters moved to another device or dtype since: group them again
                    parts = self._measure(self._layout(fresh=True))
                if self._first_bad(parts):
                    self._announce(step, untouched=True)
        except Exception as internal:  # NOTE [fail-safe]
            self._failed(internal, "pre-update check")

    def _on_forward(self, output: object) -> None:
        """After each forward of the model until the first backward (NOTE [hooks on the model])."""
        try:
            self._heard(output)
        except Exception as internal:  # NOTE [fail-safe]: never in the way of the user's forward
            self._failed(internal, "model forward hook")

    def _heard(self, output: object) -> None:
        tensors = (t for t in tree_leaves(output) if isinstance(t, torch.Tensor))
        root = next((t.grad_fn for t in tensors if t.grad_fn is not None), None)
        if root is None:
            return
        if self._node_handle is not None:  # only the latest forward can be the first one backpropagated
            self._node_handle.remove()
        self._node_handle = root.register_prehook(self._on_backward_start)

    def _on_backward_start(self, grad_outputs: object) -> None:
        node = torch._C._current_autograd_node()  # the node this pre-hook runs for; holding it would leak
        scopes, self._scopes = self._scopes, None
        try:
            self._remove_graph_hooks()
            if scopes is not None:
                scopes.remove()  # its spans stay readable until the graph is captured
            self._on_first_backward(node)
        except Exception as internal:  # NOTE [fail-safe]: never in the way of the user's backward
            self._failed(internal, "graph of the first backward")
        finally:
            if scopes is not None:
                scopes.forget()

    def _remove_graph_hooks(self) -> None:
        scopes, self._scopes = self._scopes, None
        if scopes is not None:
            scopes.forget()
        listening, self._listening = self._listening, None
        if listening is not None:
            listening.remove()
        if self._node_handle is not None:
            self._node_handle.remove()
        self._node_handle = None

    def close(self) -> None:
        """Record a step left half-done by a raising ``optimizer.step()``, remove every hook."""
        try:
            self._close_open()
        except Exception as internal:  # NOTE [fail-safe]
            self._failed(internal, "close")
        finally:
            self._release()

    def _failed(self, internal: Exception, stage: str, running: RemovableHandle | None = None) -> None:
        """NOTE [fail-safe] for a watched run: gradviz's own error in one of its hooks is warned once, the
        recording stops there, and what was recorded before stays. Every hook goes at once (each later step
        runs as it would without gradviz), but the optimizer hook that is ``running``: torch is iterating
        over its dict (removing it now would raise in the user's step), so it stays, returning at once,
        until close()."""
        self.stopped = True
        self.failsafe.fail(internal, stage)
        self.active = False
        self._open = None
        self.on_recorded = self.on_first_nonfinite = None
        if self.on_stopped is not None:
            with contextlib.suppress(Exception):  # (the view may be what failed)
                self.on_stopped()
        self._release(keep=running)

    def _release(self, keep: RemovableHandle | None = None) -> None:
        try:
            self._remove_graph_hooks()
        finally:
            for handle in self._handles:
                if handle is not keep:
                    handle.remove()
            self._handles = [keep] if keep is not None else []
            self._snapshots.clear()
            self.params = []

    # -- measuring ---------------------------------------------------------------------------------------

    def _first_bad(self, parts: list[Part]) -> bool:
        """Whether these measured parts hold the run's first non-finite gradient norm (one host read, only
        while a first NaN is awaited and someone listens)."""
        if self._announced or self.on_first_nonfinite is None or self.buffer.first_nonfinite is not None:
            return False
        norms = [n.to(torch.float32) for part in parts for n in part.grad_norms]
        return bool(norms) and not bool(torch.isfinite(torch.stack(norms)).all())

    def _announce(self, step: int, untouched: bool) -> None:
        if not self._announced and self.on_first_nonfinite is not None:
            self._announced = True
            self.on_first_nonfinite(step, untouched)

    def _record_gradients(self, step: int, untouched: bool = False) -> None:
        """A step without weights: gradient norms only, with the layout of the last weight step.
        ``untouched``: the optimizer has not stepped yet (the weights are the ones the forward used)."""
        try:
            self._finish(step, self._measure(self._layout(fresh=False)), untouched)
        except RuntimeError:  # parameters moved to another device or dtype since: group them again
            self._finish(step, self._measure(self._layout(fresh=True)), untouched)

    def _finish(self, step: int, parts: list[Part], untouched: bool = False) -> None:
        """Bring the norms of one step to the host (one copy per group) and append its row; the first
        non-finite one is announced (``untouched``: before the optimizer stepped)."""
        seen = self.buffer.first_nonfinite
        self._append_row(step, parts)
        self.last_row = step
        if seen is None and self.buffer.first_nonfinite is not None:
            self._announce(step, untouched)
        if self.on_recorded is not None:
            self.on_recorded()
