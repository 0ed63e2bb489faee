"""In-place writes made by the hooks a backward runs on the watched tensors: an optimizer step fused into
backward (``register_post_accumulate_grad_hook``), a tensor hook.

# NOTE [writes during a backward]
# The tracer runs the user's backward call from inside its own mode, and a mode is off while its handler
# runs; the engine also runs every node with the thread state it had when the call began. So nothing the
# backward runs in Python reaches the tracer. A write there can still change a tensor autograd saved and
# make the backward raise (an optimizer step fused into backward updates a weight as soon as its gradient
# is complete: a reentrant checkpoint's inner backward completes it while the outer graph still holds the
# weight), and torch then blames the write, the line to change. So while the backward call runs, the hooks
# on the watched tensors (their post-accumulate-grad hooks and tensor hooks, looked up by torch when they
# run) are wrapped so that each runs under a small mode that records the in-place ops it sees (by kind,
# as the tracer does) with the user's line; every other op goes straight through, and each hook is put
# back as it was when the call returns. The same for the backward of the user's autograd.Function
# classes whose nodes the walk met (their ``backward``, or ``vjp``, is looked up on the class as each
# node runs: it is replaced on the class for the duration of the call). A module's backward hooks are
# copied into a list when its forward runs, so they are wrapped in the module's dicts for the whole trace
# (``ModuleHookWrites``): they only ever run inside a backward. Writes from hooks added to a module after
# the trace began, from tensor hooks on tensors other than the watched ones, and from torch's own
# Functions are not seen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.modules.module as _module
from torch import nn
from torch.autograd import Function
from torch.overrides import TorchFunctionMode

from gradviz.capture import _frames
from gradviz.capture._failsafe import FailSafe
from gradviz.capture._lineage import clear_how, is_leaf, tensors_out, write_record
from gradviz.capture._ops import Kind, classify
from gradviz.records import Capture, Clear

__all__ = ["WRAPPERS", "BackwardWrites", "ModuleHookWrites"]

_KINDS: dict[Any, tuple[str, Kind]] = {}
_HOOK_DICTS = ("_post_accumulate_grad_hooks", "_backward_hooks")
_MODULE_HOOK_DICTS = ("_backward_hooks", "_backward_pre_hooks")
_INHERITED = object()


class BackwardWrites(TorchFunctionMode):
    """Records, in ``cap.inplace``, the in-place ops of the hooks a backward runs on some tensors
    (NOTE [writes during a backward])."""

    def __init__(self, cap: Capture, failsafe: FailSafe) -> None:
        super().__init__()
        self.cap = cap
        self.failsafe = failsafe
        self._watched: Sequence[torch.Tensor] = ()  # target index -> tensor, while ``during`` runs

    @contextlib.contextmanager
    def during(self, tensors: Sequence[torch.Tensor], functions: Iterable[Any] = ()) -> Iterator[None]:
        """While the block runs, each hook on ``tensors`` and the backward of each autograd.Function class
        in ``functions`` run under this mode."""
        self._watched = tensors
        wrapped: list[tuple[dict, Any, Callable[..., Any], Callable[..., Any]]] = []
        patched: list[tuple[type, str, Any]] = []  # (class, attribute, its own value or _INHERITED)
        try:
            for t in tensors:
                for attr in _HOOK_DICTS:
                    wrapped += self.wrap_hooks(getattr(t, attr, None))
            for cls in functions:
                attr = "vjp" if cls.vjp is not Function.vjp else "backward"
                if getattr(cls, attr) is getattr(Function, attr):
                    continue  # (forward-mode only: no backward of its own)
                patched.append((cls, attr, cls.__dict__.get(attr, _INHERITED)))
                setattr(cls, attr, staticmethod(self._under(getattr(cls, attr))))
        except Exception as internal:  # NOTE [fail-safe]: what was wrapped so far is put back below
            self.failsafe.fail(internal, "hooks of the backward")
        try:
            yield
        finally:
            _put_back(wrapped)
            for cls, attr, own in reversed(patched):
                if own is _INHERITED:
                    delattr(cls, attr)
                else:
                    setattr(cls, attr, own)

    def wrap_hooks(
        self, hooks: dict | None
    ) -> list[tuple[dict, Any, Callable[..., Any], Callable[..., Any]]]:
        """Each hook of a torch hook dict replaced by one that runs it under this mode: (dict, key, hook,
        wrapper) for each, to put back."""
        wrapped: list[tuple[dict, Any, Callable[..., Any], Callable[..., Any]]] = []
        if not hooks:
            return wrapped
        for key, hook in list(hooks.items()):
            hooks[key] = runs_under = self._under(hook)
            wrapped.append((hooks, key, hook, runs_under))
        return wrapped

    def _under(self, hook: Callable[..., Any]) -> Callable[..., Any]:
        return _Under(self, hook)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        info = _KINDS.get(func)
        if info is None:
            info = _KINDS[func] = classify(func)
        out = func(*args, **(kwargs or {}))
        if info[1] is Kind.INPLACE and not self.failsafe.broken:
            try:
                self._record(info[0], args)
            except Exception as internal:  # NOTE [fail-safe]: the write happened; only its record is lost
                self.failsafe.fail(internal, "backward write record")
        return out

    def _record(self, name: str, args: tuple) -> None:
        target = args[0] if args else None
        changed = [target] if isinstance(target, torch.Tensor) else tensors_out(target)
        site = _frames.user_site()
        grads = {
            id(g): i for i, w in enumerate(self._watched) if (g := w.grad if w.is_leaf else None) is not None
        }
        written = 0
        for t in changed:
            fn = None if is_leaf(t) else t.grad_fn
            made_by = type(fn).__name__ if fn is not None else ""
            self.cap.inplace.append(write_record(t, name, site, made_by))  # index -1: not of the forward
            if id(t) in grads:
                written |= 1 << grads[id(t)]
        if written:  # a hook wrote into a watched .grad: if it ends zero, this is where (a possible clear)
            self.cap.clears.append(Clear(targets=written, site=site, how=clear_how(name)))


class ModuleHookWrites:
    """For the duration of a trace, the backward hooks of ``modules`` and the global module backward hooks
    run under ``writes`` (NOTE [writes during a backward]); ``remove()`` puts them back."""

    def __init__(self, writes: BackwardWrites, modules: Iterable[nn.Module]) -> None:
        self._wrapped: list[tuple[dict, Any, Callable[..., Any], Callable[..., Any]]] = []
        try:
            for hooks in (_module._global_backward_hooks, _module._global_backward_pre_hooks):
                self._wrapped += writes.wrap_hooks(hooks)
            for m in modules:
                for attr in _MODULE_HOOK_DICTS:
                    self._wrapped += writes.wrap_hooks(getattr(m, attr, None))
        except Exception as internal:  # NOTE [fail-safe]
            writes.failsafe.fail(internal, "module backward hooks")

    def remove(self) -> None:
        _put_back(self._wrapped)
        self._wrapped = []


def _put_back(wrapped: list[tuple[dict, Any, Callable[..., Any], Callable[..., Any]]]) -> None:
    for hooks, key, hook, runs_under in wrapped:
        if hooks.get(key) is runs_under:  # (a hook that removed itself stays removed)
            hooks[key] = hook


class _Under:
    """A hook (or a Function's backward) that runs under a mode: the one frame gradviz puts between it and
    its caller (NOTE [warnings at the user's line] moves a warning that lands on it)."""

    __slots__ = ("hook", "mode")

    def __init__(self, mode: TorchFunctionMode, hook: Callable[..., Any]) -> None:
        self.mode, self.hook = mode, hook

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.mode:
            return self.hook(*args, **kwargs)


WRAPPERS = (_Under.__call__.__code__,)  # the code of the frames it inserts
