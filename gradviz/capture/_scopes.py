"""Which module's forward made each autograd node of a watched model's first backward graph.

# NOTE [placed by the forward]
# A graph captured without a forward trace (``gradviz.watch``'s first backward) knows the module of its
# parameters, not of its ops; placed by the parameters they read, lm_head's matmul of a tied weight
# (``lm_head.weight is wte.weight``: named once, as ``transformer.wte.weight``) was drawn in the embedding's
# box, where ``gradviz.trace`` draws it under ``lm_head``, the module whose forward ran it. So from the
# watch's start to its first backward, a process-wide forward pre-hook (in the stable slot of _hooks.py)
# and the watch's own process-wide forward hook (_listen.py, which calls ``module_left``: one hook after
# forwards, as before) note the autograd sequence numbers each of the model's modules' forward spanned
# a node is made with the
# next sequence number, so the innermost span holding a node's number names the module that ran its op, as
# the trace's module stack does. Only numbers and names are kept (no module, tensor or node), those of the
# model's latest forward (the first backward is the latest forward's: ``Recorder._on_forward``), by the
# recorder that owns them: the registries hold them weakly, and the hook goes with the last of them. A
# forward that raised is left out (its nodes go to the module around it: no hook saw where it ended). A model
# that is or holds a compiled module gets none of this (NOTE [hooks on the model] in _watch.py): its
# graph is placed as before.
"""

from __future__ import annotations

import weakref
from bisect import bisect_right
from collections.abc import Callable

import torch

from gradviz.capture._compiled import holds_compiled
from gradviz.capture._hooks import SlotHandle, add_forward_pre_hook
from gradviz.capture._targets import unwrap

__all__ = ["ForwardScopes", "module_left", "scopes_of"]

_next_node_nr = torch._C._autograd._get_sequence_nr
_LISTENING: weakref.WeakSet[ForwardScopes] = weakref.WeakSet()  # those noting spans now
_LATEST: dict[int, weakref.ref[ForwardScopes]] = {}  # id(inner model) -> its scopes, until its first graph
_PRE: list[SlotHandle] = []  # the forward pre-hook, while any scopes listen


class ForwardScopes:
    """The sequence-number spans of a model's modules' forwards (NOTE [placed by the forward])."""

    def __init__(self, model: torch.nn.Module, on_error: Callable[[Exception, str], None]) -> None:
        self.on_error = on_error  # gradviz's own error in a hook (NOTE [fail-safe]): the recorder stops
        inner = unwrap(model)
        self._model = weakref.ref(inner)
        self._names: dict[int, tuple[weakref.ref[torch.nn.Module], str]] = {
            id(m): (weakref.ref(m), name) for name, m in inner.named_modules()
        }
        self._names[id(model)] = (weakref.ref(model), "")  # a wrapper's own ops belong to the top level
        self._stack: list[
            tuple[int, int]
        ] = []  # (id of the module, index of its span) of the forwards running
        self._starts: list[int] = []  # the spans of the latest forward, in the order they began
        self._ends: list[int] = []
        self._spans: list[str] = []
        if holds_compiled(model):
            return
        _LISTENING.add(self)
        _LATEST[id(inner)] = weakref.ref(self)
        if not _PRE:
            _PRE.append(add_forward_pre_hook(_on_enter))
        weakref.finalize(self, _release)

    def _known(self, module: torch.nn.Module) -> str | None:
        entry = self._names.get(id(module))
        return entry[1] if entry is not None and entry[0]() is module else None

    def _enter(self, module: torch.nn.Module) -> None:
        name = self._known(module)
        if name is None:
            return
        if name == "" and not self._stack:  # a new forward of the model (or its wrapper): the older one ended
            self._starts, self._ends, self._spans = [], [], []
        self._stack.append((id(module), len(self._starts)))
        self._starts.append(_next_node_nr())
        self._ends.append(-1)  # open until the forward returns
        self._spans.append(name)

    def _leave(self, module: torch.nn.Module) -> None:
        if self._known(module) is None or not any(key == id(module) for key, _ in self._stack):
            return
        end = _next_node_nr()
        while self._stack:
            key, i = self._stack.pop()
            if key == id(module):
                self._ends[i] = end
                break
            self._ends[i] = self._starts[i]  # a forward that raised inside this one: left out

    def module_of(self, seq: int) -> str | None:
        """The innermost module whose forward made node number ``seq`` (None: none of the model's)."""
        i = bisect_right(self._starts, seq) - 1
        while i >= 0:  # spans nest: the latest begun that has not ended before seq holds it
            if self._ends[i] < 0 or seq < self._ends[i]:
                return self._spans[i]
            i -= 1
        return None

    def remove(self) -> None:
        """Stop noting spans (those noted stay readable); safe to call twice."""
        self._stack = []
        _LISTENING.discard(self)
        _release()

    def forget(self) -> None:
        """Stop noting spans and leave the registry: they served the first backward's graph."""
        self.remove()
        model = self._model()
        if model is not None and (ref := _LATEST.get(id(model))) is not None and ref() is self:
            del _LATEST[id(model)]


def scopes_of(model: torch.nn.Module) -> ForwardScopes | None:
    """The spans noted for ``model``'s latest forward while it is watched, before its first backward."""
    inner = unwrap(model)
    ref = _LATEST.get(id(inner))
    scopes = ref() if ref is not None else None
    return scopes if scopes is not None and scopes._model() is inner else None


def _on_enter(module: torch.nn.Module, args: object) -> None:
    for scopes in list(_LISTENING):
        try:
            scopes._enter(module)
        except Exception as internal:  # NOTE [fail-safe]: never in the way of the user's forward
            scopes.on_error(internal, "module forward pre-hook")


def module_left(module: torch.nn.Module) -> None:
    """After a module's forward (called by the watch's process-wide forward hook, _listen.py)."""
    for scopes in list(_LISTENING):
        try:
            scopes._leave(module)
        except Exception as internal:  # NOTE [fail-safe]
            scopes.on_error(internal, "module forward hook")


def _release() -> None:
    """The pre-hook goes when no scopes listen any more (also when their recorder was dropped unclosed)."""
    if _PRE and not any(True for _ in _LISTENING):
        _PRE.pop().remove()
    for key, ref in list(_LATEST.items()):
        if ref() is None:
            del _LATEST[key]
