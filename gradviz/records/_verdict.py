"""The verdict vocabulary: why a tensor did or did not get a usable gradient."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Cause", "Verdict"]


class Cause(str, enum.Enum):
    """Why a parameter has the gradient it has. ``ok`` is the only healthy cause.

    A ``str`` enum, so ``verdict.cause == "detach"`` holds.
    """

    ok = "ok"
    frozen = "frozen"
    unused = "unused"
    detach = "detach"
    data = "data"
    no_grad = "no_grad"
    non_differentiable = "non_differentiable"
    escaped = "escaped"
    checkpoint = "checkpoint"
    unregistered = "unregistered"
    not_in_optimizer = "not_in_optimizer"
    not_requested = "not_requested"
    cleared = "cleared"
    zero = "zero"
    nonfinite = "nonfinite"
    error = "error"
    unknown = "unknown"  # gradviz could not decide (its own error stopped the recording): see the message

    def __str__(self) -> str:  # "detach", not "Cause.detach", in reports and f-strings
        return self.value

    @property
    def severity(self) -> str:
        """Colour class used by every view: ok, frozen, zero, nonfinite, or red (will not learn)."""
        if self in (Cause.ok, Cause.frozen, Cause.zero, Cause.nonfinite):
            return str(self.value)
        if self in (Cause.not_requested, Cause.unknown):  # not judged as a problem: grey, like frozen
            return "frozen"
        return "red"


@dataclass(frozen=True)
class Verdict:
    """The diagnosis of one tensor.

    ``where`` is the user's own ``"path:line"`` that explains the cause (the ``.detach()`` call, the
    ``zero_grad()`` call, the line that raised, ...) or ``None`` where no single line does.
    """

    name: str
    cause: Cause
    where: str | None
    message: str
    fix: str
    grad_norm: float | None = None

    @property
    def ok(self) -> bool:
        return self.cause is Cause.ok
