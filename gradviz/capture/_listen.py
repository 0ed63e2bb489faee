"""Hearing a watched model's forward passes until its first backward, with nothing of gradviz's on the
model (NOTE [hooks on the model] in _watch.py): one process-wide hook, keyed by the model's identity."""

from __future__ import annotations

import threading
import weakref
from typing import Protocol

import torch
from torch.nn.modules.module import register_module_forward_hook
from torch.utils.hooks import RemovableHandle

from gradviz.capture._compiled import QuietCompileWarning, holds_compiled
from gradviz.capture._scopes import module_left


class Recorder(Protocol):
    """What listens: ``capture._watch.Recorder``, told each forward output of its model."""

    def _on_forward(self, output: object) -> None: ...


__all__ = ["Listening"]

_LISTENING: dict[int, Listening] = {}  # id(model) -> the recorder waiting for that model's first backward
_LOCK = threading.RLock()  # an RLock: a weakref callback may run (garbage collection) while it is held
# the process-wide forward hook and its warning filter, while anyone listens through it
_GLOBAL_HOOK: list[RemovableHandle | QuietCompileWarning] = []


class Listening:
    """A recorder hearing its model's forward passes: weak references only, so the registry keeps neither
    alive (either one collected ends it)."""

    def __init__(self, model: torch.nn.Module, recorder: Recorder) -> None:
        self.key = id(model)
        self.model = weakref.ref(model, self._gone)
        self.recorder = weakref.ref(recorder, self._gone)
        self._own: RemovableHandle | None = None
        compiled = holds_compiled(model)
        with _LOCK:
            previous = _LISTENING.get(self.key)
            if previous is not None:
                previous.remove()  # one recorder per model (watch closes the previous one anyway)
            if compiled:
                self._own = model.register_forward_hook(_on_watched_forward)
            elif not _GLOBAL_HOOK:
                _GLOBAL_HOOK.append(register_module_forward_hook(_on_watched_forward))
                _GLOBAL_HOOK.append(QuietCompileWarning())
            _LISTENING[self.key] = self

    def _gone(self, ref: object) -> None:
        self.remove()

    def remove(self) -> None:
        with _LOCK:
            if _LISTENING.get(self.key) is self:
                del _LISTENING[self.key]
            if self._own is not None:
                self._own.remove()
                self._own = None
            if _GLOBAL_HOOK and not any(entry._own is None for entry in _LISTENING.values()):
                while _GLOBAL_HOOK:
                    _GLOBAL_HOOK.pop().remove()


def _on_watched_forward(module: torch.nn.Module, args: object, output: object) -> None:
    """After every module's forward while a recorder listens: hands the watched models' outputs over."""
    if torch.compiler.is_compiling():  # traced by dynamo inside a compiled region: nothing to do
        return
    module_left(module)  # the spans of the modules' forwards (NOTE [placed by the forward] in _scopes.py)
    entry = _LISTENING.get(id(module))
    if entry is None:  # torch.compile(model) made after watch(model): its inner call runs compiled, unheard
        inner = module._modules.get("_orig_mod")
        if inner is None:
            return
        entry, module = _LISTENING.get(id(inner)), inner
    if entry is None or entry.model() is not module:
        return
    recorder = entry.recorder()
    if recorder is not None:
        recorder._on_forward(output)
