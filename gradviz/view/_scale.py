"""The display scale of the graph view (a projector's 1.5x): its range, one place for Python to check it.

The front end's range is the same (``js/src/ui/scale.js``; a contract test compares them). 0 means "the
size this browser remembers" (the toolbar's Size control stores it).
"""

from __future__ import annotations

__all__ = ["MAX_SCALE", "MIN_SCALE", "check_scale"]

MIN_SCALE, MAX_SCALE = 1.0, 2.0  # below 1, labels would fall under 9 px


def check_scale(value: float) -> float:
    """``value`` if it is a scale the view can draw (or 0), else ValueError saying what is accepted."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"scale must be a number between {MIN_SCALE:g} and {MAX_SCALE:g}; got {value!r}.")
    if value != 0 and not MIN_SCALE <= value <= MAX_SCALE:
        raise ValueError(
            f"scale must be between {MIN_SCALE:g} and {MAX_SCALE:g} (1.5 for a projector), "
            f"or 0 for the size last chosen in this browser; got {value!r}."
        )
    return float(value)
