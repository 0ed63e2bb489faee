"""One-glance statistics of a tensor: shape, dtype, range, mean/std, norm, zeros/NaN/Inf, histogram."""

from __future__ import annotations

import math

import torch

from gradviz.capture._records import TensorSummary

HIST_BINS = 16
SAMPLE_LIMIT = 1 << 16  # exact statistics up to this many elements; a strided sample above


def summarize(t: torch.Tensor, norm: float | None = None) -> TensorSummary:
    """Summarize ``t`` (``norm`` may be passed in when already computed in a batch)."""
    t = t.detach()
    summary = TensorSummary(
        shape=tuple(t.shape),
        dtype=str(t.dtype).removeprefix("torch."),
        device=str(t.device),
        numel=t.numel(),
    )
    if t.numel() == 0 or t.layout != torch.strided or t.device.type == "meta":
        return summary
    if not (t.is_floating_point() or t.is_complex()):
        t = t.double()
    elif t.is_complex():
        t = t.abs()
    flat = t.reshape(-1)
    sampled = flat.numel() > SAMPLE_LIMIT
    if sampled:
        flat = flat[:: math.ceil(flat.numel() / SAMPLE_LIMIT)]
    x = flat.double().cpu()
    summary.sampled = sampled
    summary.norm = norm if norm is not None else float(torch.linalg.vector_norm(t.double()))
    finite_mask = torch.isfinite(x)
    if sampled and math.isfinite(summary.norm):
        summary.nan = summary.inf = 0  # the exact norm is finite, so no element is NaN or Inf
        summary.zeros = None
    else:
        full = t.reshape(-1) if sampled else x
        summary.nan = int(torch.isnan(full).sum())
        summary.inf = int(torch.isinf(full).sum())
        summary.zeros = None if sampled else int((x == 0).sum())
    finite = x[finite_mask]
    if finite.numel():
        lo, hi = float(finite.min()), float(finite.max())
        summary.min, summary.max = lo, hi
        summary.mean = float(finite.mean())
        summary.std = float(finite.std()) if finite.numel() > 1 else 0.0
        summary.hist = torch.histc(finite, bins=HIST_BINS, min=lo, max=hi if hi > lo else lo + 1).tolist()
    return summary
