"""What a gradient held: the one vocabulary of gradient states, shared by every layer."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["GradState"]


class GradState(IntEnum):
    """What ``.grad`` held at a step. Kept apart from the norm, so "no gradient" and NaN never mix."""

    none = 0  # .grad was None
    zero = 1  # exactly zero everywhere
    finite = 2  # finite and not all zero
    nonfinite = 3  # some element is NaN or Inf
    # The values exist but could not be read (a meta tensor, inside a functorch transform). Never stored in
    # a History: its ``state`` arrays are uint8 and hold only the four states above.
    unknown = -1
