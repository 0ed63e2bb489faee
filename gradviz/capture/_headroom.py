"""Precision headroom in ``watch``: how far each gradient's largest magnitude is from its dtype's limit.

# NOTE [precision headroom]
# A gradient overflows when its largest magnitude passes the dtype's largest finite value (65504 in
# float16), and reports show it climbing for many steps before every value turns NaN. Per recorded step,
# each watched parameter's headroom is log2(limit / peak), in bits. For half-precision gradients the peak
# is measured (one ``_foreach_norm(ord=inf)`` per group), with the fraction of values below the smallest
# normal number (flushed, or about to flush, to zero), and the half-precision weights' own peak; for the
# other dtypes the step's 2-norm, already on the host, bounds the peak from above (peak <= norm): the
# headroom is a lower bound and costs nothing more. A parameter is flagged, once, when its headroom is
# under three quarters of its dtype's range above 1 (a float16 gradient above 16, a float32 one above
# 2^32), the least-squares trend over its last WINDOW recorded steps reaches the limit within HORIZON
# steps, and that climb is real: the window's later half is at least a bit (a doubling) closer to the
# limit than its earlier half (noise around a steady level is not a trend). The headroom of every
# recorded step is kept, in at most MAX_ROWS rows (every other row is dropped when full, as the history
# does).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from gradviz.capture._distributed import any_sharded
from gradviz.records import Headroom

__all__ = ["HORIZON", "WINDOW", "HeadroomTracker"]

WINDOW = 16  # recorded steps the trend is fitted over
HORIZON = 200  # optimizer steps ahead an overflow is flagged
MAX_ROWS = 2048
_LOW = (torch.float16, torch.bfloat16)


class HeadroomTracker:
    """Per-parameter headroom of the recorded steps (capture side: reads the gradients of low-precision
    parameters on their device; the rest from the host norms the recorder already has)."""

    def __init__(self, names: Sequence[str], params: Sequence[torch.Tensor]) -> None:
        self.names = list(names)
        self.params = list(params)
        count = len(self.params)
        self.dtypes = [str(p.dtype).removeprefix("torch.") for p in self.params]
        self.limit = np.array(
            [torch.finfo(p.dtype).max if p.dtype.is_floating_point else np.inf for p in self.params],
            np.float64,
        )
        self.low = np.array([p.dtype in _LOW for p in self.params], bool)
        self.near = np.log2(self.limit) * 0.75  # bits under which a shrinking headroom is flagged
        self._ring = np.full((WINDOW, count), np.nan)
        self._ring_steps = np.full(WINDOW, np.nan)
        self._filled = 0
        self.peak = np.full(count, np.nan)
        self.bits = np.full(count, np.nan)
        self.underflow = np.full(count, np.nan)
        self.weight_bits = np.full(count, np.nan)
        self._trend: np.ndarray | None = np.full(count, np.nan)
        self.flagged_at = np.full(count, -1, np.int64)
        self.last_step = -1
        self.steps: list[int] = []  # the recorded steps kept, and their headroom in bits
        self.rows: list[np.ndarray] = []
        self._stride, self._seen = 1, 0

    # -- each recorded step ----------------------------------------------------------------------------------

    def observe(self, step: int, norms: np.ndarray, parts: Sequence[Any]) -> None:
        """Step ``step`` was recorded with gradient 2-norms ``norms`` (host, one per parameter; NaN: no
        gradient); ``parts``: the recorder's measured groups (their ``grads`` on the device)."""
        peak = np.asarray(norms, np.float64).copy()
        if self.low.any():
            self._measure_low(parts, peak)
        with np.errstate(divide="ignore", invalid="ignore"):
            bits = np.log2(self.limit / peak)
        self.peak, self.bits, self.last_step = peak, bits, step
        self._ring[self._filled % WINDOW] = bits
        self._ring_steps[self._filled % WINDOW] = step
        self._filled += 1
        self._trend = None  # fitted when asked (report) or when a headroom is low enough to be flagged
        with np.errstate(invalid="ignore"):
            low = bits < self.near
        if low.any():  # the trend only matters where a flag is possible (never, for a healthy fp32 model)
            trend = self.trend
            with np.errstate(divide="ignore", invalid="ignore"):  # a flat trend (0): no overflow ahead
                left = np.where(trend < 0, bits / -trend, np.inf)
            heading = low & np.isfinite(bits) & (left <= HORIZON) & (self._climb() >= 1)
            self.flagged_at[heading & (self.flagged_at < 0)] = step
        self._keep(step, bits)

    @property
    def trend(self) -> np.ndarray:
        """Bits gained per step over the window, per parameter (NaN: fewer than 4 points)."""
        if self._trend is None:
            self._trend = self._fit()
        return self._trend

    def _measure_low(self, parts: Sequence[Any], peak: np.ndarray) -> None:
        for part in parts:
            group = part.group
            if group.dtype not in _LOW or not part.grads or any_sharded(part.grads):
                continue  # (a sharded gradient: its norm bounds the peak, as for the other dtypes)
            where = [group.index[j] for j in part.have]
            grads = [g.detach() for g in part.grads]
            tiny = torch.finfo(group.dtype).tiny
            peaks = torch._foreach_norm(grads, float("inf"))
            small = [(g.abs() < tiny).sum() for g in grads]
            weights = torch._foreach_norm([self.params[i].detach() for i in where], float("inf"))
            host = torch.stack(
                [*(x.float() for x in peaks), *(x.float() for x in small), *(x.float() for x in weights)]
            )
            values = host.cpu().numpy().astype(np.float64)
            k = len(grads)
            peak[where] = values[:k]
            numel = np.array([g.numel() for g in grads], np.float64)
            self.underflow[where] = values[k : 2 * k] / np.maximum(numel, 1)
            with np.errstate(divide="ignore"):
                self.weight_bits[where] = np.log2(self.limit[where] / values[2 * k :])

    def _fit(self) -> np.ndarray:
        """Least-squares slope of bits against steps over the window, per parameter (NaN: < 4 points)."""
        y = self._ring
        x = np.broadcast_to(self._ring_steps[:, None], y.shape)
        ok = np.isfinite(y) & np.isfinite(x)
        n = ok.sum(0)
        x0, y0 = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
        sx, sy = x0.sum(0), y0.sum(0)
        sxx, sxy = (x0 * x0).sum(0), (x0 * y0).sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
        slope[np.abs(slope) < 1e-9] = 0.0  # rounding of a steady series is no trend
        return np.where(n >= 4, slope, np.nan)

    def _climb(self) -> np.ndarray:
        """Bits lost from the earlier half of the window to its later half, per parameter (NaN: too few)."""
        count = min(self._filled, WINDOW)
        if count < 4:
            return np.full(self._ring.shape[1], np.nan)
        order = (np.arange(self._filled - count, self._filled)) % WINDOW  # oldest first
        rows = self._ring[order]
        half = count // 2
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a column of NaN (no gradient yet)
            return np.nanmean(rows[:half], axis=0) - np.nanmean(rows[half:], axis=0)

    def _keep(self, step: int, bits: np.ndarray) -> None:
        self._seen += 1
        if (self._seen - 1) % self._stride:
            return
        self.steps.append(step)
        self.rows.append(bits.astype(np.float32))
        if len(self.rows) > MAX_ROWS:  # full: keep every other row, then every 2nd recorded step more
            self.steps, self.rows = self.steps[::2], self.rows[::2]
            self._stride *= 2

    # -- as plain data -----------------------------------------------------------------------------------

    def report(self) -> dict[str, Headroom]:
        """The latest headroom of each parameter that has had a gradient (plain records)."""
        found: dict[str, Headroom] = {}
        for i, name in enumerate(self.names):
            if not np.isfinite(self.peak[i]) and not self.flagged_at[i] >= 0:
                continue
            trend = float(self.trend[i]) if np.isfinite(self.trend[i]) else None
            left = (
                float(self.bits[i] / -trend)
                if trend is not None and trend < 0 and np.isfinite(self.bits[i])
                else None
            )
            found[name] = Headroom(
                name=name,
                dtype=self.dtypes[i],
                limit=float(self.limit[i]),
                step=self.last_step,
                peak=float(self.peak[i]),
                bits=float(self.bits[i]),
                exact=bool(self.low[i]),
                trend=trend,
                steps_left=left,
                flagged_at=int(self.flagged_at[i]) if self.flagged_at[i] >= 0 else None,
                underflow=float(self.underflow[i])
                if self.low[i] and np.isfinite(self.underflow[i])
                else None,
                weight_bits=float(self.weight_bits[i])
                if self.low[i] and np.isfinite(self.weight_bits[i])
                else None,
            )
        return found
