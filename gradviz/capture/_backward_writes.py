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
# back as it was when the call returns. Writes from module backward hooks or a custom Function's backward
# are not seen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from gradviz.capture import _frames
from gradviz.capture._failsafe import FailSafe
from gradviz.capture._lineage import is_leaf, tensors_out, write_record
from gradviz.capture._ops import Kind, classify
from gradviz.records import Capture

__all__ = ["BackwardWrites"]

_KINDS: dict[Any, tuple[str, Kind]] = {}
_HOOK_DICTS = ("_post_accumulate_grad_hooks", "_backward_hooks")


class BackwardWrites(TorchFunctionMode):
    """Records, in ``cap.inplace``, the in-place ops of the hooks a backward runs on some tensors
    (NOTE [writes during a backward])."""

    def __init__(self, cap: Capture, failsafe: FailSafe) -> None:
        super().__init__()
        self.cap = cap
        self.failsafe = failsafe

    @contextlib.contextmanager
    def during(self, tensors: Sequence[torch.Tensor]) -> Iterator[None]:
        """While the block runs, each hook on ``tensors`` runs under this mode."""
        wrapped: list[tuple[dict, Any, Callable[..., Any], Callable[..., Any]]] = []
        try:
            for t in tensors:
                for attr in _HOOK_DICTS:
                    hooks = getattr(t, attr, None)
                    if not hooks:
                        continue
                    for key, hook in list(hooks.items()):
                        hooks[key] = runs_under = self._under(hook)
                        wrapped.append((hooks, key, hook, runs_under))
        except Exception as internal:  # NOTE [fail-safe]: the hooks wrapped so far are put back below
            self.failsafe.fail(internal, "hooks of the backward")
        try:
            yield
        finally:
            for hooks, key, hook, runs_under in wrapped:
                if hooks.get(key) is runs_under:  # (a hook that removed itself stays removed)
                    hooks[key] = hook

    def _under(self, hook: Callable[..., Any]) -> Callable[..., Any]:
        def runs_under(*args: Any, **kwargs: Any) -> Any:
            with self:
                return hook(*args, **kwargs)

        return runs_under

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
        for t in changed:
            fn = None if is_leaf(t) else t.grad_fn
            made_by = type(fn).__name__ if fn is not None else ""
            self.cap.inplace.append(write_record(t, name, site, made_by))  # index -1: not of the forward
