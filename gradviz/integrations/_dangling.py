"""A first-step trace that a framework started but whose step raised, so no callback ever ends it.

Lightning calls ``on_exception``; the Hugging Face ``Trainer`` calls nothing when its training step raises.
A trace left running keeps its TorchFunctionMode and module hooks installed, so every trace a callback
starts is registered here until it ends, and ended at the first safe point after an exception:

- an uncaught exception in a script: ``sys.excepthook`` (before the traceback is printed, so the
  exception carries gradviz's note);
- a notebook cell that raised: IPython's ``post_run_cell`` event;
- the next ``train()`` / ``fit()`` with any gradviz callback, or the callback's ``close()``.

Both hooks are installed only while a trace is open, and removed when the last one ends.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["close_all", "is_open", "register", "unregister"]


class _Closable(Protocol):
    def end_trace(self, exc: BaseException | None = None) -> object: ...


_open: list[_Closable] = []
_previous_excepthook: Callable[..., Any] | None = None
_ipython: Any = None


def register(run: _Closable) -> None:
    if not _open:
        _install()
    _open.append(run)


def unregister(run: _Closable) -> None:
    if run in _open:
        _open.remove(run)
    if not _open:
        _uninstall()


def is_open() -> bool:
    return bool(_open)


def close_all(exc: BaseException | None = None) -> None:
    """End every open trace, with ``exc`` as the exception that stopped its step (or None)."""
    for run in list(_open):
        run.end_trace(exc)  # calls unregister


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    hook = _previous_excepthook or sys.__excepthook__
    try:
        close_all(exc if isinstance(exc, Exception) else None)
    finally:
        hook(exc_type, exc, tb)


def _post_run_cell(result: Any) -> None:
    error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
    close_all(error if isinstance(error, Exception) else None)


def _install() -> None:
    global _previous_excepthook, _ipython
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and hasattr(shell, "events"):
        shell.events.register("post_run_cell", _post_run_cell)
        _ipython = shell


def _uninstall() -> None:
    global _previous_excepthook, _ipython
    if sys.excepthook is _excepthook:
        sys.excepthook = _previous_excepthook or sys.__excepthook__
    _previous_excepthook = None
    if _ipython is not None:
        with contextlib.suppress(ValueError):  # already gone
            _ipython.events.unregister("post_run_cell", _post_run_cell)
        _ipython = None
