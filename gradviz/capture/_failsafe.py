"""Keeping gradviz's own errors out of the user's step.

# NOTE [fail-safe]
# gradviz runs inside the user's training step: its mode sees every op, its hooks every module call and
# every backward. An error in gradviz's own bookkeeping must never replace the user's exception, and must
# never stop a step that would run without gradviz. So every entry point (the mode, the module hooks, a
# backward call, the end of the trace, the verdicts) catches its own errors: the first one is recorded
# here and warned once; from then on the trace records nothing (every op runs as if untraced), every hook
# is still removed at the end, and the verdicts say only what is known, in so many words. An op that
# already ran is never run again: the mode knows whether the failure came before, during (the user's own
# error: re-raised) or after the op itself.
# A watched run (capture/_watch.py) does the same in each of its hooks (the optimizer's step pre- and
# post-hook, a closure's evaluation, a manual or callback step, the model's forward hooks, the first
# backward's graph, the live view after a row): the first error is warned once, the recording stops, the
# rows recorded before it stay, and the view and the monitor's repr say where it stopped. Every hook goes
# at once, except an optimizer hook torch is iterating over (removing it then would raise in the user's
# step): it returns at once until close(). The warning is shown at the user's line that was running; a
# filter that turns warnings into errors does not turn it into an exception (the record still says it).
"""

from __future__ import annotations

import contextlib
import traceback
import warnings

from gradviz.capture._frames import user_frame

__all__ = ["FailSafe"]


class FailSafe:
    """The first internal error of one trace (or watch), and where it happened."""

    __slots__ = ("error", "stage")

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.stage = ""

    @property
    def broken(self) -> bool:
        return self.error is not None

    def fail(self, exc: BaseException, stage: str) -> None:
        """Record gradviz's own error ``exc`` in ``stage`` (warned once; later ones are dropped)."""
        if self.error is not None:
            return
        self.error, self.stage = exc, stage
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" at {where.filename.rpartition('/')[2]}:{where.lineno}" if where is not None else ""
        text = (
            f"gradviz: an internal error in its {stage} ({type(exc).__name__}: {exc}{at}). Your code ran as "
            "it would without gradviz; gradviz stopped recording and says only what it knows. Please report "
            "this, with this message."
        )
        with contextlib.suppress(Exception):  # a filter that turns warnings into errors: the record says it
            frame = user_frame(2)  # shown at the user's line that was running
            if frame is None:
                warnings.warn(text, RuntimeWarning, stacklevel=2)
            else:
                globals_ = frame.f_globals
                warnings.warn_explicit(
                    text,
                    RuntimeWarning,
                    frame.f_code.co_filename,
                    frame.f_lineno,
                    module=globals_.get("__name__"),
                    registry=globals_.setdefault("__warningregistry__", {}),
                    module_globals=globals_,
                )

    def describe(self) -> str:
        """One phrase for the verdicts: what failed."""
        if self.error is None:
            return ""
        return f"gradviz's {self.stage} failed ({type(self.error).__name__}: {self.error})"
