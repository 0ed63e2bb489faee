"""A tensor summary's statistics, computed from its sample when a view first asks (plain numpy)."""

from __future__ import annotations

import numpy as np

from gradviz.records._capture import TensorSummary

__all__ = ["HIST_BINS", "complete"]

HIST_BINS = 16  # bins of a summary's histogram; the widget reads the count from its state (graph.hist_bins)


def complete(summary: TensorSummary) -> TensorSummary:
    """Fill in min/max/mean/std/zeros/histogram from the sample (once)."""
    x = summary.sample
    if x is None or summary.min is not None:
        return summary
    if not summary.sampled:
        summary.zeros = int(np.count_nonzero(x == 0))
        summary.nan = int(np.isnan(x).sum())
        summary.inf = int(np.isinf(x).sum())
    finite = x[np.isfinite(x)].astype(np.float64)
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        summary.min, summary.max = lo, hi
        summary.mean = float(finite.mean())
        summary.std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
        counts, _ = np.histogram(finite, bins=HIST_BINS, range=(lo, hi if hi > lo else lo + 1.0))
        summary.hist = counts.astype(float).tolist()
    return summary
