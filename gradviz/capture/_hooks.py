"""Process-wide module hooks in slots whose keys never change.

# NOTE [stable hook slots]
# torch.compile guards on the global module hook dicts, keys included: a hook registered anew under a new
# handle id for every trace makes every compiled region compile again on every traced step (measured: 20x
# a compiled step). So each kind of global hook gradviz uses lives in one slot, allocated once per process
# (one handle id), filled with a module-level function while some trace or watch is live and emptied when
# the last one ends: nothing of gradviz's stays in torch's dicts between traces, and the dicts torch.compile
# guards on look the same for every trace. The functions pass each call on to the live owners.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch
from torch.nn.modules import module as _module
from torch.utils.hooks import RemovableHandle

__all__ = [
    "SlotHandle",
    "add_forward_hook",
    "add_forward_hook_with_kwargs",
    "add_forward_pre_hook",
    "add_parameter_registration_hook",
]

_LOCK = threading.RLock()
_KEYS: dict[str, int] = {}  # slot -> its handle id, allocated once per process
_OWNERS: dict[str, list[Callable[..., Any]]] = {"pre": [], "post": [], "post_kw": [], "param": []}


def _call_pre(module: torch.nn.Module, args: Any) -> None:
    if torch.compiler.is_compiling():  # NOTE [invisible to torch.compile]
        return
    for owner in list(_OWNERS["pre"]):
        owner(module, args)


def _call_post(module: torch.nn.Module, args: Any, output: Any) -> None:
    if torch.compiler.is_compiling():
        return
    for owner in list(_OWNERS["post"]):
        owner(module, args, output)


def _call_post_kw(module: torch.nn.Module, args: Any, kwargs: Any, output: Any) -> None:
    if torch.compiler.is_compiling():
        return
    for owner in list(_OWNERS["post_kw"]):
        owner(module, args, kwargs, output)


def _call_param(module: torch.nn.Module, name: str, param: Any) -> None:
    if torch.compiler.is_compiling():
        return
    for owner in list(_OWNERS["param"]):
        owner(module, name, param)


def _dicts(slot: str) -> tuple[dict[int, Any], dict[int, Any] | None, Callable[..., Any]]:
    if slot == "pre":
        return _module._global_forward_pre_hooks, None, _call_pre
    if slot == "post":
        return _module._global_forward_hooks, _module._global_forward_hooks_always_called, _call_post
    if slot == "post_kw":  # its marker: the hook takes the forward's kwargs too
        return _module._global_forward_hooks, _module._global_forward_hooks_with_kwargs, _call_post_kw
    return _module._global_parameter_registration_hooks, None, _call_param


class SlotHandle:
    """What ``add_*`` returns: ``remove()`` takes this owner's hook out, and empties the slot when it was
    the last owner (safe to call twice)."""

    def __init__(self, slot: str, owner: Callable[..., Any]) -> None:
        self.slot, self.owner = slot, owner

    def remove(self) -> None:
        with _LOCK:
            owners = _OWNERS[self.slot]
            if self.owner in owners:
                owners.remove(self.owner)
            if not owners and self.slot in _KEYS:
                hooks, extra, _ = _dicts(self.slot)
                hooks.pop(_KEYS[self.slot], None)
                if extra is not None:
                    extra.pop(_KEYS[self.slot], None)


def _add(slot: str, owner: Callable[..., Any]) -> SlotHandle:
    with _LOCK:
        hooks, extra, function = _dicts(slot)
        key = _KEYS.get(slot)
        if key is None:
            key = _KEYS[slot] = RemovableHandle(hooks).id  # a fresh id, reserved for this slot
        hooks[key] = function
        if extra is not None:
            extra[key] = True  # post: always_call (runs also when the forward raises); post_kw: with_kwargs
        _OWNERS[slot].append(owner)
    return SlotHandle(slot, owner)


def add_forward_pre_hook(owner: Callable[[torch.nn.Module, Any], None]) -> SlotHandle:
    return _add("pre", owner)


def add_forward_hook(owner: Callable[[torch.nn.Module, Any, Any], None]) -> SlotHandle:
    """A global forward hook that runs also when the forward raises (``always_call``)."""
    return _add("post", owner)


def add_forward_hook_with_kwargs(owner: Callable[[torch.nn.Module, Any, Any, Any], None]) -> SlotHandle:
    """A global forward hook given the forward's kwargs too: ``owner(module, args, kwargs, output)``."""
    return _add("post_kw", owner)


def add_parameter_registration_hook(owner: Callable[[torch.nn.Module, str, Any], None]) -> SlotHandle:
    return _add("param", owner)
