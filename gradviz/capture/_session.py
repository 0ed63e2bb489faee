"""A capture session: installs the tracer mode and hooks, owns them, and always removes them.

Used by ``gradviz.trace``. ``start()`` installs; ``stop()`` removes everything (also after an exception),
reads the final gradients once, and returns a Capture of plain data. After ``stop()`` the session holds
no tensor, module, optimizer or autograd node.

# NOTE [one thread]
# Module hooks are process-wide: a module run by another thread (a background evaluation, a data worker)
# calls them too. The tracer mode is per thread, so only the tracing thread's ops are recorded; the module
# path is kept for that thread alone, and hooks called from other threads return at once.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from gradviz.capture import _graph, _targets
from gradviz.capture._adopt import Adoption
from gradviz.capture._backward import BackwardCalls, grad_of
from gradviz.capture._backward_marks import BackwardMarks
from gradviz.capture._backward_writes import WRAPPERS, BackwardWrites, ModuleHookWrites
from gradviz.capture._compiled import QuietCompileWarning
from gradviz.capture._distributed import any_sharded
from gradviz.capture._errors import error_from_traceback
from gradviz.capture._failsafe import FailSafe
from gradviz.capture._frames import caller_of_module, refresh_notebook_sites, user_site
from gradviz.capture._hooks import add_forward_hook, add_forward_pre_hook, add_parameter_registration_hook
from gradviz.capture._lineage import Lineage
from gradviz.capture._locate import locate_births, locate_blocks, mark_forward_births
from gradviz.capture._norms import norms_and_states
from gradviz.capture._stats import sample_many
from gradviz.capture._tracer import OP_CALLERS, Tracer
from gradviz.capture._user_warnings import WarningsAtUserLine
from gradviz.records import Capture, GradState, Root, Site


class Session(Adoption):
    def __init__(
        self,
        model: nn.Module | Mapping[str, torch.Tensor] | None,
        optimizer: torch.optim.Optimizer | None,
        node_norms: bool = True,
    ) -> None:
        self.cap = Capture()
        refresh_notebook_sites()
        self.lineage = Lineage()
        self._model = _targets.unwrap(model) if isinstance(model, nn.Module) else None
        self._wrapper = model if isinstance(model, nn.Module) else None
        self._optimizer = optimizer
        self.node_norms = node_norms
        self._opaque: dict[int, int] = {}  # id(TorchScript module) -> bitset of the targets it holds
        self._module_names: dict[int, str] = {}
        self._modules: list[nn.Module] = []  # the model's modules: their backward hooks are wrapped
        self._root_output: Any = None  # weakref to the last output of the model's forward
        self._output_root: Root | None = None  # its lineage: the root when no backward() runs
        if self._model is not None:
            self.watched, self._module_names, modules = _targets.scan(self._model)
            self._module_names[id(model)] = ""  # a DDP wrapper's own ops belong to the top level
            self._opaque = _targets.opaque_modules(modules, self.watched)
            _targets.mark_compiled(
                self._wrapper if self._wrapper is not None else self._model, modules, self.watched
            )
            self.cap.modules = {n: type(m).__name__ for n, m in modules}
            self._modules = [m for _, m in modules]
            self.cap.model_name = type(self._model).__name__
        elif model is not None:
            self.watched = _targets.from_mapping(model)  # type: ignore[arg-type]
        else:
            self.watched = []
        for w in self.watched:
            self.lineage.add_target(w.tensor, w.target.index)
        self.cap.targets = [w.target for w in self.watched]
        self._index_of = {t.name: t.index for t in self.cap.targets}
        self._aliases: dict[int, tuple[torch.Tensor, int]] = {}  # stand-in Parameter -> its target
        self._new_params: dict[int, Site | None] = {}  # id of a Parameter no target knows -> first use
        self._unnamed: list[int] = []  # adopted tensors whose variable was not found when first used
        self._running: list[nn.Module] = []  # modules whose forward is running, innermost last
        self._thread = threading.get_ident()
        self.failsafe = FailSafe()
        self._marks = BackwardMarks()
        self._backward = BackwardCalls(self, self._marks)
        self.tracer = Tracer(
            self.cap,
            self.lineage,
            on_backward=self._backward,
            marks=self._marks,
            failsafe=self.failsafe,
            on_leaf=self._adopt if model is None else None,
            on_param=self._adopt_stand_in if isinstance(model, nn.Module) else None,
            targets=self._used_targets,
        )
        self._handles: list[Any] = []
        self._entered = False

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._handles.append(QuietCompileWarning())
            # NOTE [warnings at the user's line]
            self._handles.append(WarningsAtUserLine(OP_CALLERS, WRAPPERS))
            # NOTE [stable hook slots] in _hooks.py: the same keys in torch's dicts for every trace
            self._handles.append(add_forward_pre_hook(self._enter_module))
            self._handles.append(add_forward_hook(self._leave_module))
            if self._model is not None:
                self._handles.append(add_parameter_registration_hook(self._registered))
            # NOTE [writes during a backward]: a module's backward hooks are fixed as its forward runs
            self._handles.append(ModuleHookWrites(BackwardWrites(self.cap, self.failsafe), self._modules))
            step_hook = getattr(self._optimizer, "register_step_post_hook", None)
            if callable(step_hook):
                self._handles.append(step_hook(self._stepped))
            self.tracer.__enter__()
            self._entered = True
        except BaseException:
            self._remove_hooks()
            raise

    def stop(self, exc: BaseException | None) -> Capture:
        try:
            if self._entered:
                self._entered = False
                self.tracer.__exit__(None, None, None)
        finally:
            self._remove_hooks()
        try:
            if not self.failsafe.broken:
                self._settle_error(exc)
                if self.tracer.finite is not None:
                    self.tracer.finite.settle()
                if not self.cap.backward_calls:
                    self._walk_output()
                self._name_unnamed()
                self._adopt_created()
            # what is known even after a failure: each target's .grad as the trace ends
            read_final_state(self.cap, self.watched, self._optimizer, self._backward.known)
            self.tracer.finish()
            if not self.failsafe.broken:
                locate_births(self.cap)
                locate_blocks(self.cap)
                mark_forward_births(self.cap)
        except Exception as internal:  # NOTE [fail-safe]
            self.failsafe.fail(internal, "end of the trace")
        finally:
            self.tracer.finish()
            if self.tracer.finite is not None:
                self.tracer.finite.clear()
            self._release()
        self.cap.failure = self.failsafe.describe()
        return self.cap

    def _stepped(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        """An optimizer step finished: it read the gradients of the tensors it holds that have one."""
        try:
            held = _targets.optimizer_ids(optimizer)
            for w in self.watched:
                if (
                    id(w.tensor) in held
                    and w.target.delivered != GradState.none
                    and grad_of(w.tensor) is not None
                ):
                    w.target.stepped = True
        except Exception as internal:  # NOTE [fail-safe]: never in the way of the user's step
            self.failsafe.fail(internal, "optimizer step hook")

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _release(self) -> None:
        self.lineage.clear()
        self._aliases.clear()
        self._backward.known.clear()
        self._running.clear()
        self._new_params.clear()
        self._marks.clear()
        self.tracer.callers.clear()
        self.watched = []
        self._modules = []
        self._model = self._wrapper = self._optimizer = self._root_output = self._output_root = None

    def _used_targets(self) -> list[tuple[str, torch.Tensor, int, int]]:
        """(name, tensor, first-use op, birth of a NaN/Inf gradient it got) of each target the forward has
        used so far (rare path)."""
        return [
            (w.target.name, w.tensor, w.target.first_use, w.target.birth)
            for w in self.watched
            if w.target.first_use >= 0
        ]

    # -- module path (see NOTE [one thread]) ---------------------------------------------------------------

    def _enter_module(self, module: nn.Module, args: Any) -> None:
        if torch.compiler.is_compiling() or threading.get_ident() != self._thread or self.failsafe.broken:
            return  # see NOTE [invisible to torch.compile] in _tracer.py
        try:
            self._entering(module)
        except Exception as exc:  # NOTE [fail-safe]
            self.failsafe.fail(exc, "module hooks")

    def _entering(self, module: nn.Module) -> None:
        name = self._module_names.get(id(module))
        tracer = self.tracer
        tracer.modules.append(type(module).__name__ if name is None else name)
        caller = caller_of_module(2)
        tracer.callers.append(caller or (tracer.callers[-1] if tracer.callers else 0))
        self._running.append(module)

    def _leave_module(self, module: nn.Module, args: Any, output: Any) -> None:
        if torch.compiler.is_compiling() or threading.get_ident() != self._thread or self.failsafe.broken:
            return
        try:
            self._leaving(module, args, output)
        except Exception as exc:  # NOTE [fail-safe]
            self.failsafe.fail(exc, "module hooks")

    def _leaving(self, module: nn.Module, args: Any, output: Any) -> None:
        if self.tracer.modules:
            self.tracer.modules.pop()
        if self.tracer.callers:
            self.tracer.callers.pop()
        if self._running:
            self._running.pop()
        opaque = self._opaque.get(id(module))
        if opaque is not None:
            self.tracer.opaque_output(module, opaque, args, output)
        if (module is self._model or module is self._wrapper) and isinstance(output, torch.Tensor):
            self._root_output = weakref.ref(output)
            # (no torch op here: module hooks run under the tracer, which would record them)
            self._output_root = self.root(output, None, None, "forward", check=False)

    def _registered(self, module: nn.Module, name: str, param: Any) -> None:
        """A Parameter assigned to a module during the trace (``self.w = nn.Parameter(...)`` in forward):
        the line that made it (see ``_adopt_created``)."""
        if not torch.compiler.is_compiling() and threading.get_ident() == self._thread and param is not None:
            self._new_params[id(param)] = user_site()

    # -- roots and targets -------------------------------------------------------------------------------

    def root(
        self, tensor: torch.Tensor, site: Site | None, node: str | None, call: str, check: bool = True
    ) -> Root:
        """A loss (or the model's output) as plain data, with the lineage the tracer recorded for it;
        ``check``: whether its value is finite (not from inside a module hook)."""
        values, grads, cuts = self.tracer.lineage_of(tensor) or (0, 0, ())
        root = Root(values, grads, cuts, tensor.requires_grad, site, node, tuple(tensor.shape), call)
        root.shadow = dict(self.lineage.shadow(tensor))
        if check:
            root.nonfinite, root.birth = self._nonfinite(tensor)
        return root

    def _nonfinite(self, tensor: torch.Tensor) -> tuple[str, int]:
        """("nan" | "inf" | "", birth index) of a loss's value."""
        if tensor.numel() == 1 and tensor.device.type == "cpu" and tensor.dtype.is_floating_point:
            value = tensor.detach().item()  # a scalar loss on the CPU: one read, no reduction
            if value - value == 0:
                return "", -1
        else:
            _, states = norms_and_states([tensor])
            if states[0] != GradState.nonfinite:  # (None: cannot be read)
                return "", -1
        with torch.no_grad():
            kind = "nan" if bool(torch.isnan(tensor.detach()).any()) else "inf"
        finite = self.tracer.finite
        hit = finite.tainted.get(id(tensor)) if finite is not None else None
        return kind, (hit[1] if hit is not None and hit[0]() is tensor else -1)

    def target_map(self) -> dict[int, tuple[torch.Tensor, int]]:
        targets = {id(w.tensor): (w.tensor, w.target.index) for w in self.watched}
        targets.update(self._aliases)
        return targets

    def _walk_output(self) -> None:
        """No backward() ran: the model's last output stands in for the loss; draw its graph if it is
        still alive, else judge reachability from the lineage the tracer recorded for it."""
        root = self._output_root
        if root is not None:
            self.cap.roots.append(root)
            for target in self.cap.targets:
                target.reached = bool(root.grads & target.bit)
        out = self._root_output() if self._root_output is not None else None
        if out is not None and root is not None:
            root.nonfinite, root.birth = self._nonfinite(out)
        if out is not None and out.grad_fn is not None:
            walk = _graph.walk([out.grad_fn], self.target_map(), self.tracer.op_of_node, hook_norms=False)
            self.cap.graph = walk.nodes
            if root is not None:
                root.node = walk.roots[0]
            for target in self.cap.targets:
                target.reached = bool(walk.reached >> target.index & 1)
        self.cap.notes.append("No backward() ran inside the trace: gradients were not checked.")

    # -- the end -----------------------------------------------------------------------------------------

    def _settle_error(self, exc: BaseException | None) -> None:
        error = self.cap.error
        if exc is None or error is None or error.message not in str(exc):
            self.cap.error = None  # an error caught by the user's own code is not the trace's error
        if exc is not None and self.cap.error is None and isinstance(exc, Exception):
            phase = "backward" if self.cap.backward_calls else "forward"
            self.cap.error = error_from_traceback(exc, phase)


def read_final_state(
    cap: Capture,
    watched: list[_targets.Watched],
    optimizer: Any,
    known: dict[int, tuple[torch.Tensor, int, float | None, GradState]] | None = None,
) -> None:
    """Read each target's final requires_grad, gradient and optimizer membership (batched norms).
    ``known`` holds norms measured after the last backward; a gradient unchanged since is not re-read."""
    known = known or {}
    in_opt = _targets.optimizer_ids(optimizer) if optimizer is not None else None
    tensors = [w.tensor for w in watched]
    grads = [grad_of(t) for t in tensors]
    # weights: exact norms only where a collective gives them anyway (sharded); else from the sample
    value_norms = norms_and_states(tensors)[0] if any_sharded(tensors) else [None] * len(tensors)

    def unchanged(g: torch.Tensor) -> bool:
        hit = known.get(id(g))
        return hit is not None and hit[0] is g and hit[1] == g._version

    changed = [g for g in grads if g is not None and not unchanged(g)]
    fresh = iter(zip(*norms_and_states(changed), strict=True))
    for w, g in zip(watched, grads, strict=True):
        target, t = w.target, w.tensor
        target.requires_grad = t.requires_grad
        target.in_optimizer = None if in_opt is None else id(t) in in_opt
        if g is None:
            target.grad_norm, target.grad_state = None, GradState.none
        elif unchanged(g):
            target.grad_norm, target.grad_state = known[id(g)][2], known[id(g)][3]
        else:
            norm, state = next(fresh)
            target.grad_norm, target.grad_state = norm, (GradState.unknown if state is None else state)
    values = sample_many(tensors, value_norms, estimate=True)
    samples = sample_many(grads, [w.target.grad_norm for w in watched])
    for w, value, grad in zip(watched, values, samples, strict=True):
        w.target.value, w.target.grad = value, grad
