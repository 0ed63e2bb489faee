"""A capture session: installs the tracer mode and hooks, owns them, and always removes them.

Used by ``gradviz.trace``. ``start()`` installs; ``stop()`` removes everything (also after an exception),
reads the final gradients once, and returns a Capture of plain data. After ``stop()`` the session holds
no tensor, module, optimizer or autograd node.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

from gradviz.capture import _graph, _targets
from gradviz.capture._distributed import any_sharded, norm_values
from gradviz.capture._errors import classify_backward_error
from gradviz.capture._frames import refresh_notebook_sites, user_frame
from gradviz.capture._lineage import Lineage
from gradviz.capture._records import Capture, Root, Site
from gradviz.capture._stats import sample
from gradviz.capture._tracer import Tracer


class Session:
    def __init__(
        self,
        model: nn.Module | Mapping[str, torch.Tensor] | None,
        optimizer: torch.optim.Optimizer | None,
        node_norms: bool = True,
    ) -> None:
        self.cap = Capture()
        refresh_notebook_sites()
        self.lineage = Lineage()
        self._model = model if isinstance(model, nn.Module) else None
        self._optimizer = optimizer
        self._node_norms = node_norms
        self._module_names: dict[int, str] = {}
        self._root_output: Any = None  # weakref to the last output of the model's forward
        self._output_root: Root | None = None  # its lineage: the root when no backward() runs
        if isinstance(model, nn.Module):
            inner = _targets.unwrap(model)
            self.watched = _targets.from_model(inner)
            self._module_names = _targets.module_names(inner)
            self._module_names[id(model)] = ""  # a DDP wrapper's own ops belong to the top level
            self.cap.modules = {n: type(m).__name__ for n, m in inner.named_modules()}
            self.cap.model_name = type(inner).__name__
        elif model is not None:
            self.watched = _targets.from_mapping(model)
        else:
            self.watched = []
        for w in self.watched:
            self.lineage.add_target(w.tensor, w.target.index)
        self.cap.targets = [w.target for w in self.watched]
        self._index_of = {t.name: t.index for t in self.cap.targets}
        self._aliases: dict[int, tuple[torch.Tensor, int]] = {}  # stand-in Parameter -> its target
        self._running: list[nn.Module] = []  # modules whose forward is running, innermost last
        self.tracer = Tracer(
            self.cap,
            self.lineage,
            on_backward=self._backward,
            on_leaf=self._adopt if model is None else None,
            on_param=self._adopt_stand_in if isinstance(model, nn.Module) else None,
        )
        self._handles: list[Any] = []
        self._entered = False
        # id(grad) -> (grad, its version, its norm) measured after the last backward
        self._known_norms: dict[int, tuple[torch.Tensor, int, float]] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._handles.append(register_module_forward_pre_hook(self._enter_module))
            self._handles.append(register_module_forward_hook(self._leave_module, always_call=True))
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
            self._settle_error(exc)
            if not self.cap.backward_calls:
                self._walk_output()
            self._read_final_state()
        finally:
            self.tracer.finish()
            self._release()
        return self.cap

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _release(self) -> None:
        self.lineage.clear()
        self._aliases.clear()
        self._known_norms.clear()
        self._running.clear()
        self.tracer.grad_ids.clear()
        self.tracer.root_ids.clear()
        self.watched = []
        self._model = self._optimizer = self._root_output = self._output_root = None

    # -- module path -------------------------------------------------------------------------------------

    def _enter_module(self, module: nn.Module, args: Any) -> None:
        name = self._module_names.get(id(module))
        self.tracer.modules.append(type(module).__name__ if name is None else name)
        self._running.append(module)

    def _leave_module(self, module: nn.Module, args: Any, output: Any) -> None:
        if self.tracer.modules:
            self.tracer.modules.pop()
        if self._running:
            self._running.pop()
        if module is self._model and isinstance(output, torch.Tensor):
            self._root_output = weakref.ref(output)
            self._output_root = self._root(output, None, None, "forward")

    # -- backward ----------------------------------------------------------------------------------------

    def _backward(self, func, name: str, args: tuple, kwargs: dict, site: Site | None):
        roots = _root_tensors(name, args, kwargs)
        call = "autograd.grad" if name == "grad" else "backward"
        grad_fns = [r.grad_fn for r in roots]
        walk = _graph.walk(grad_fns, self._target_map(), self.tracer.op_of_node, hook_norms=self._node_norms)
        for r, node in zip(roots, walk.roots, strict=True):
            self.tracer.root_ids.add(id(r))
            self.cap.roots.append(self._root(r, site, node, call))
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            if self.cap.error is None:
                self.cap.error = classify_backward_error(exc, site, self.cap)
            raise
        finally:
            walk.finish()
            self._absorb(walk)
            self._after_backward()

    def _root(self, tensor: torch.Tensor, site: Site | None, node: str | None, call: str) -> Root:
        """A loss (or the model's output) as plain data, with the lineage the tracer recorded for it."""
        entry = self.lineage.get(tensor)
        values, grads, cuts = (entry[1], entry[2], entry[3]) if entry else (0, 0, ())
        return Root(values, grads, cuts, tensor.requires_grad, site, node, tuple(tensor.shape), call)

    def _absorb(self, walk: _graph.Walk) -> None:
        self.cap.graph = walk.nodes
        if walk.truncated and not self.cap.graph_truncated:
            self.cap.graph_truncated = True
            limit = len(walk.nodes)
            self.cap.notes.append(f"The backward graph has over {limit:,} nodes: only those were drawn.")
        self.cap.backward_calls += 1
        for target in self.cap.targets:
            if walk.reached >> target.index & 1:
                target.reached = True
        for node in walk.nodes:
            if node.target >= 0:
                self.cap.targets[node.target].node = node.id

    def _after_backward(self) -> None:
        leaves = [w for w in self.watched if w.tensor.is_leaf and w.tensor.grad is not None]
        grads = [w.tensor.grad for w in leaves]
        norms = _norms(grads)
        self.tracer.grad_ids = {id(g): w.target.index for w, g in zip(leaves, grads, strict=True)}
        self._known_norms = {id(g): (g, g._version, n) for g, n in zip(grads, norms, strict=True)}
        for w, norm in zip(leaves, norms, strict=True):
            w.target.grad_seen = norm
        for node in self.cap.graph:  # a parameter's node shows the gradient it accumulated
            if node.target >= 0:
                node.grad_norm = self.cap.targets[node.target].grad_seen

    def _walk_output(self) -> None:
        """No backward() ran: the model's last output stands in for the loss; draw its graph if it is
        still alive, else judge reachability from the lineage the tracer recorded for it."""
        root = self._output_root
        if root is not None:
            self.cap.roots.append(root)
            for target in self.cap.targets:
                target.reached = bool(root.grads & target.bit)
        out = self._root_output() if self._root_output is not None else None
        if out is not None and out.grad_fn is not None:
            walk = _graph.walk([out.grad_fn], self._target_map(), self.tracer.op_of_node, hook_norms=False)
            self.cap.graph = walk.nodes
            if root is not None:
                root.node = walk.roots[0]
            for target in self.cap.targets:
                target.reached = bool(walk.reached >> target.index & 1)
        self.cap.notes.append("No backward() ran inside the trace: gradients were not checked.")

    def _target_map(self) -> dict[int, tuple[torch.Tensor, int]]:
        targets = {id(w.tensor): (w.tensor, w.target.index) for w in self.watched}
        targets.update(self._aliases)
        return targets

    def _adopt_stand_in(self, param: torch.Tensor) -> bool:
        """A Parameter the tracer does not know: if a running module holds it under the name of a watched
        parameter, it stands in for that one (FSDP2 swaps unsharded Parameters in for the forward)."""
        for module in reversed(self._running):
            for attr, value in module._parameters.items():
                if value is param:
                    prefix = self._module_names.get(id(module), "")
                    index = self._index_of.get(f"{prefix}.{attr}" if prefix else attr)
                    if index is None:
                        return False
                    self.lineage.add_target(param, index)
                    self._aliases[id(param)] = (param, index)
                    return True
        return False

    def _adopt(self, tensor: torch.Tensor, site: Site | None) -> int:
        """trace() with nothing to watch: a leaf requiring grad used in the forward becomes a target."""
        index = len(self.watched)
        w = _targets.discovered(index, _variable_name(tensor) or f"tensor_{index}", tensor)
        self.watched.append(w)
        self.cap.targets.append(w.target)
        self.lineage.add_target(tensor, index)
        return index

    # -- the end -----------------------------------------------------------------------------------------

    def _settle_error(self, exc: BaseException | None) -> None:
        error = self.cap.error
        if exc is None or error is None or error.message not in str(exc):
            self.cap.error = None  # an error caught by the user's own code is not the trace's error
        if exc is not None and self.cap.error is None and isinstance(exc, Exception):
            self.cap.notes.append(f"The traced code raised {type(exc).__name__}: {str(exc).strip()[:200]}")

    def _read_final_state(self) -> None:
        read_final_state(self.cap, self.watched, self._optimizer, self._known_norms)


def read_final_state(
    cap: Capture,
    watched: list[_targets.Watched],
    optimizer: Any,
    known: dict[int, tuple[torch.Tensor, int, float]] | None = None,
) -> None:
    """Read each target's final requires_grad, gradient and optimizer membership (batched norms).
    ``known`` holds norms measured after the last backward; a gradient unchanged since is not re-read."""
    known = known or {}
    in_opt = _targets.optimizer_ids(optimizer) if optimizer is not None else None
    tensors = [w.tensor for w in watched]
    grads = [t.grad if t.is_leaf else None for t in tensors]
    value_norms = _norms(tensors)

    def unchanged(g: torch.Tensor) -> bool:
        hit = known.get(id(g))
        return hit is not None and hit[0] is g and hit[1] == g._version

    fresh = iter(_norms([g for g in grads if g is not None and not unchanged(g)]))
    for w, g, vnorm in zip(watched, grads, value_norms, strict=True):
        target, t = w.target, w.tensor
        target.requires_grad = t.requires_grad
        target.in_optimizer = None if in_opt is None else id(t) in in_opt
        if g is None:
            target.grad_norm = None
        else:
            target.grad_norm = known[id(g)][2] if unchanged(g) else next(fresh)
        target.value = sample(t, vnorm)
        target.grad = sample(g, target.grad_norm) if g is not None else None


def _norms(tensors: list[torch.Tensor]) -> list[float]:
    """L2 norms of many tensors in a few batched calls and one host copy per device. Sharded (DTensor)
    tensors get the norm of the full tensor, with one collective: every rank traces the same step."""
    if any_sharded(tensors):
        return norm_values(tensors)
    dense = [t.detach() for t in tensors]
    if not dense:
        return []
    out: list[float] = [float("nan")] * len(dense)
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for i, t in enumerate(dense):
        if t.layout == torch.strided and (t.is_floating_point() or t.is_complex()) and t.numel():
            groups.setdefault((t.device, t.dtype), []).append(i)
        elif t.numel() == 0:
            out[i] = 0.0
    for idx in groups.values():
        norms = torch._foreach_norm([dense[i] for i in idx])
        for i, value in zip(idx, torch.stack([n.double() for n in norms]).tolist(), strict=True):
            out[i] = value
    return out


def _root_tensors(name: str, args: tuple, kwargs: dict) -> list[torch.Tensor]:
    first = args[0] if args else kwargs.get("tensors", kwargs.get("outputs"))
    if isinstance(first, torch.Tensor):
        return [first]
    if isinstance(first, (list, tuple)):
        return [t for t in first if isinstance(t, torch.Tensor)]
    return []


def _variable_name(tensor: torch.Tensor) -> str | None:
    """The name the user's code gives this tensor, looked up by identity in the user's frame."""
    frame = user_frame(1)
    if frame is None:
        return None
    with contextlib.suppress(Exception):  # exotic frames (f_locals proxies of C extensions) may refuse
        for scope in (frame.f_locals, frame.f_globals):
            for key, value in scope.items():
                if value is tensor and not key.startswith("_"):
                    return key
    return None
