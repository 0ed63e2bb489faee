"""Precision headroom of a watched run: how far each gradient is from its dtype's largest finite value."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Headroom", "overflow_words", "short_number"]


def short_number(x: float, whole: bool = False) -> str:
    """9.1e3, 120, 0.42, 3.4e38: three significant digits at most; ``whole``: an integer below a million
    as it is (float16's limit, 65504)."""
    if not math.isfinite(x):
        return "Inf" if x > 0 else "NaN" if math.isnan(x) else "-Inf"
    if whole and x == int(x) and abs(x) < 1e6:
        return str(int(x))
    mantissa, _, exponent = f"{x:.3g}".partition("e")
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


def overflow_words(steps_left: float) -> str:
    """In words: overflow in about 7 steps, in about 1 step, at the next step."""
    n = round(steps_left)
    if n < 1:
        return "overflow at the next step"
    return f"overflow in about {n} step{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Headroom:
    """One parameter's precision headroom at the latest recorded step (NOTE [precision headroom] in
    capture/_headroom.py).

    ``bits``: log2(limit / peak), how many doublings the gradient's largest magnitude ``peak`` can still take
    before it overflows the dtype's largest finite value ``limit`` (``exact``: the peak itself, measured for
    half-precision gradients; else the gradient's 2-norm, an upper bound of it, so ``bits`` is a lower
    bound). ``trend``: bits gained per step over the recent steps (negative: shrinking). ``steps_left``: at
    that trend, the steps until it overflows (None: not shrinking). ``flagged_at``: the first step it was
    flagged as heading for overflow (close to the limit and shrinking), None if never. ``underflow``: for
    half-precision gradients, the fraction of values below the dtype's smallest normal number (flushed or
    about to flush to zero); None otherwise. ``weight_bits``: the same headroom of a half-precision
    parameter's own values (None for others)."""

    name: str
    dtype: str
    limit: float
    step: int
    peak: float
    bits: float
    exact: bool
    trend: float | None = None
    steps_left: float | None = None
    flagged_at: int | None = None
    underflow: float | None = None
    weight_bits: float | None = None

    @property
    def flagged(self) -> bool:
        return self.flagged_at is not None

    def text(self) -> str:
        """In words, as the watch view says it."""
        what = "peaks at" if self.exact else "has a norm of"
        said = f"{self.name}'s gradient ({self.dtype}) {what} {short_number(self.peak)}"
        said += f": {self.bits:.1f} bits below its limit"
        if (
            self.trend is not None
            and self.trend < 0
            and self.steps_left is not None
            and math.isfinite(self.steps_left)
        ):
            said += f", losing {-self.trend:.2f} bits per step ({overflow_words(self.steps_left)})"
        if self.underflow:
            said += f"; {self.underflow:.0%} of its values are below the smallest normal {self.dtype}"
        return said + "."
