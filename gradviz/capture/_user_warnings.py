"""torch's warnings shown at the line plain torch would show, not inside gradviz's tracer.

# NOTE [warnings at the user's line]
# Under a trace every torch call is made from the tracer (``Tracer.run``, or ``__torch_function__`` itself):
# a warning torch raises in C++ (``TORCH_WARN``: the topmost Python frame) or in Python with a
# ``stacklevel`` counts frames up from the op, and lands in the tracer, so Python's warnings machinery
# shows it at ``gradviz/capture/_tracer.py``, files it in the tracer's once-per-line registry and matches
# it against filters by the tracer's module name (a notebook's ``__main__`` DeprecationWarning filter,
# a user's ``module=`` filter). While a trace is on, this handle puts the warning back where plain torch
# puts it:
# - the frames a trace puts between the op and its caller are known: the tracer's own (from the frame
#   that called the op up to the first frame outside gradviz) and, for a torch function written in
#   Python, torch's ``handle_torch_function`` and the outer call of that same function;
# - a warning that landed on one of them is moved as many frames up from the op's caller as it landed
#   above the op; one that landed above them all is moved up by their number (what the stacklevel would
#   have reached without them); one that landed in the op's own frames is left alone;
# - a hook gradviz runs under a mode during a backward (NOTE [writes during a backward]) has one frame
#   inserted above it, the wrapper's: a warning that landed on it, or above it, is moved up by one;
# - it is warned again from there (``warnings.warn_explicit`` with that frame's module and registry), so
#   the user's filters and once-per-line rule decide, as in plain torch. For that, a filter that always
#   passes warnings at the tracer's own lines is in front while the trace is on.
# Only the display path is touched (``warnings._showwarnmsg``): nothing runs per op. gradviz's own
# warnings (raised from gradviz code, not from inside an op) pass unchanged, and so does anything this
# handle fails to place.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import warnings
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any, cast

import torch.overrides

from gradviz.capture._frames import is_gradviz_code

__all__ = ["WarningsAtUserLine"]

_HANDLE_TORCH_FUNCTION = torch.overrides.handle_torch_function.__code__
_TRACER_MODULE = r"gradviz\.capture\._tracer\Z"


class WarningsAtUserLine:
    """A handle: while live, warnings raised inside an op that one of ``op_callers`` (code objects of the
    functions that call the user's op) made are shown where plain torch shows them. ``remove()`` ends it."""

    def __init__(self, op_callers: tuple[CodeType, ...], wrappers: tuple[CodeType, ...] = ()) -> None:
        self._op_callers = frozenset(op_callers)
        self._wrappers = frozenset(wrappers)
        self._local = threading.local()  # .again: this thread is warning a moved warning again
        self._shown: Callable[[Any], Any] | None = getattr(warnings, "_showwarnmsg", None)
        self._live = self._shown is not None
        if not self._live:
            return  # a Python without the hook (none known): warnings stay where they land
        warnings.filterwarnings("always", module=_TRACER_MODULE)
        self._filter = warnings.filters[0]
        warnings._showwarnmsg = self._show  # type: ignore[attr-defined]

    def remove(self) -> None:
        if not self._live:
            return
        self._live = False
        if getattr(warnings, "_showwarnmsg", None) == self._show:
            warnings._showwarnmsg = self._shown  # type: ignore[attr-defined]
        # else another hook wrapped ours since: it stays, and ours passes everything on (not live)
        with contextlib.suppress(ValueError):
            cast("list[Any]", warnings.filters).remove(self._filter)  # a list at run time, typed a Sequence
        mutated = getattr(warnings, "_filters_mutated", None)  # private, renamed in Python 3.14
        if mutated is not None:
            mutated()

    def _show(self, msg: warnings.WarningMessage) -> None:
        shown = self._shown
        assert shown is not None
        if not self._live or getattr(self._local, "again", False):
            return shown(msg)
        try:
            frame = self._plain_frame(msg, sys._getframe(1))
        except Exception:  # never in the way of a warning: show it where it landed
            frame = None
        if frame is None:
            return shown(msg)
        globals_ = frame.f_globals
        self._local.again = True
        try:
            warnings.warn_explicit(
                msg.message,
                msg.category,
                frame.f_code.co_filename,
                frame.f_lineno,
                module=globals_.get("__name__"),
                registry=globals_.setdefault("__warningregistry__", {}),
                module_globals=globals_,
                source=msg.source,
            )
        finally:
            self._local.again = False
        return None

    def _plain_frame(self, msg: warnings.WarningMessage, frame: FrameType | None) -> FrameType | None:
        """The frame plain torch would have shown ``msg`` at, or None to leave it where it is. ``frame``: the
        innermost Python frame of the warning (the caller of ``warnings.warn``, or the frame running the
        op that warned in C++)."""
        op_frames: list[FrameType] = []  # the op's own (torch's) frames, inside the tracer's call
        while frame is not None and frame.f_code not in self._op_callers:
            if frame.f_code in self._wrappers:  # a hook run under a mode: its wrapper is the one inserted
                return self._moved(msg, op_frames, [frame], frame.f_back)
            if is_gradviz_code(frame.f_code):
                return None  # gradviz's own warning: not raised inside an op
            op_frames.append(frame)
            frame = frame.f_back
        if frame is None:
            return None  # not inside an op the tracer ran (another thread, or after the trace)
        inserted: list[FrameType] = []
        while frame is not None and is_gradviz_code(frame.f_code):
            inserted.append(frame)
            frame = frame.f_back
        if frame is not None and frame.f_code is _HANDLE_TORCH_FUNCTION and frame.f_back is not None:
            inserted += [frame, frame.f_back]  # torch's dispatch to the mode, and the outer call
            frame = frame.f_back.f_back
        return self._moved(msg, op_frames, inserted, frame)

    @staticmethod
    def _moved(
        msg: warnings.WarningMessage,
        op_frames: list[FrameType],
        inserted: list[FrameType],
        caller: FrameType | None,
    ) -> FrameType | None:
        """Where ``msg`` lands without the ``inserted`` frames between the op (``op_frames``, innermost
        first) and its ``caller`` (where a stacklevel that passed the op lands in plain torch)."""
        at = (msg.filename, msg.lineno)
        if any(_where(f) == at for f in op_frames):
            return None
        hops = next((i for i, f in enumerate(inserted) if _where(f) == at), None)
        if hops is None:
            frame, hops = caller, 0
            while frame is not None and _where(frame) != at:
                frame, hops = frame.f_back, hops + 1
            if frame is None:
                return None  # not found: leave it
            hops += len(inserted)
        frame = caller
        for _ in range(hops):
            frame = frame.f_back if frame is not None else None
        return frame


def _where(frame: FrameType) -> tuple[str, int]:
    return frame.f_code.co_filename, frame.f_lineno
