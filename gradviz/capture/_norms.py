"""One norm routine for trace, diagnose and watch: batched, exact where it matters, never a crash.

# NOTE [exact states from fast norms]
# ``torch._foreach_norm`` is one kernel per device and dtype, but its result is not always the truth:
#   - in a half type it overflows (a finite fp16 gradient with norm > 65504 gives inf): half types
#     accumulate in float32 here;
#   - in float32 the squares under- and overflow (values ~1e-27 give a norm of 0.0, values ~1e20 give inf);
#   - sparse tensors have no kernel (their values, summed where indices repeat, have the same norm);
#   - meta tensors have no values, functorch-wrapped tensors cannot be read outside their transform.
# So a norm decides the state only when it is finite and not zero (the common case, free). A norm of 0
# or non-finite is a *suspect*: one more batched reduction (the largest |value|) decides zero / finite /
# non-finite exactly, and a finite suspect's norm is recomputed as max * ||g / max|| in float64.
# Tensors that cannot be read get state None ("unknown") and norm None: callers say what is known.
# Every tensor is detached before use (no torch.no_grad() context: it costs more than the detach here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch.nn.parameter import UninitializedTensorMixin  # type: ignore[attr-defined]  # not in parameter.pyi

from gradviz.capture._distributed import any_sharded, full_norms, is_sharded
from gradviz.records import GradState

__all__ = ["device_norms", "node_norm", "norms_and_states", "readable", "settle"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)
FULL_PRECISION = (torch.float32, torch.float64)  # finite checks sum only RISKY ops in these
_is_wrapped = torch._C._functorch.is_functorch_wrapped_tensor


def readable(t: torch.Tensor) -> bool:
    """Whether ``t``'s values can be read here (not meta, not inside a functorch transform, not a lazy
    module's uninitialized parameter, floating)."""
    return (
        not isinstance(t, UninitializedTensorMixin)
        and t.device.type != "meta"
        and not _is_wrapped(t)
        and (t.is_floating_point() or t.is_complex())
        and t.layout in (torch.strided, torch.sparse_coo)
    )


def accumulate_dtype(dtype: torch.dtype) -> torch.dtype | None:
    """The dtype norms of ``dtype`` tensors accumulate in (None: their own)."""
    return torch.float32 if dtype in _LOW_PRECISION else None


def _dense(t: torch.Tensor) -> torch.Tensor:
    """A strided tensor with the same norm: the values of a sparse tensor, summed where indices repeat."""
    t = t.detach()
    return t.coalesce().values() if t.is_sparse else t


def device_norms(
    tensors: Sequence[torch.Tensor], acc: torch.dtype | None
) -> list[torch.Tensor] | tuple[torch.Tensor, ...]:
    """L2 norms as 0-d tensors on the tensors' device, one batched call (``acc`` as ``_foreach_norm``'s
    dtype). DTensors get the norm of the full tensor (a collective: call it on every rank). The tensors must
    share a device and dtype and be :func:`readable`. Not exact: see :func:`settle`."""
    if not tensors:
        return ()
    if any_sharded(tensors):
        return full_norms([t.detach() for t in tensors], acc)
    dense = [_dense(t) for t in tensors]
    return torch._foreach_norm(dense, 2, dtype=acc)


def settle(norms: np.ndarray, tensors: Sequence[torch.Tensor], positions: Sequence[int] | None = None):
    """Exact GradState of each tensor from its fast norm; fixes ``norms`` in place where the fast norm
    under- or overflowed. ``positions`` (default: all) says which entries of ``norms`` the ``tensors`` are.

    Returns None when every norm is finite and not zero (the common case: no further work), else a uint8
    array of GradState values, one per tensor (see NOTE [exact states from fast norms]).
    """
    index = np.arange(len(tensors)) if positions is None else np.asarray(positions, dtype=np.int64)
    values = norms[index]
    finite = np.isfinite(values)
    if finite.all() and values.all():
        return None
    state = np.full(len(values), GradState.finite, np.uint8)
    state[values == 0] = GradState.zero
    state[~finite] = GradState.nonfinite
    suspects = np.flatnonzero(state != GradState.finite)
    if any_sharded(tensors):  # full_norms of shards are already exact (float64, rechecked per shard)
        return state
    sus = [_dense(tensors[int(i)]) for i in suspects]
    nonempty = [j for j, s in enumerate(sus) if s.numel()]
    peaks = np.zeros(len(sus))
    if nonempty:
        found = torch._foreach_norm([sus[j] for j in nonempty], math.inf)
        peaks[nonempty] = torch.stack([p.double() for p in found]).cpu().numpy()
    ok = np.isfinite(peaks)
    state[suspects[ok]] = np.where(peaks[ok] == 0, GradState.zero, GradState.finite)
    for j in np.flatnonzero(ok & (peaks > 0)):
        norms[index[suspects[j]]] = float(torch.linalg.vector_norm(sus[j].double() / peaks[j])) * peaks[j]
    return state


def norms_and_states(tensors: Sequence[torch.Tensor]) -> tuple[list[float | None], list[GradState | None]]:
    """Exact norm and GradState of each tensor, in a few batched calls and one host copy per group.

    A tensor that cannot be read (meta, functorch-wrapped, not floating) gets (None, None). A DTensor gets
    the norm of the full tensor (a collective: every rank must call this with the same tensors).
    """
    if not tensors:
        return [], []
    out_norms: list[float | None] = [None] * len(tensors)
    out_states: list[GradState | None] = [None] * len(tensors)
    groups: dict[tuple[object, torch.dtype, bool], list[int]] = {}
    for i, t in enumerate(tensors):
        if not readable(t):
            continue
        if t.numel() == 0:
            out_norms[i], out_states[i] = 0.0, GradState.finite  # nothing to learn, nothing wrong
            continue
        sharded = is_sharded(t)
        groups.setdefault((t.device if not sharded else "dtensor", t.dtype, sharded), []).append(i)
    for (device, dtype, sharded), idx in groups.items():
        chosen = [tensors[i] for i in idx]
        if device == torch.device("cpu") and dtype in FULL_PRECISION and not sharded:
            host = _dot_norms(chosen)
        else:
            raw = device_norms(chosen, accumulate_dtype(dtype) if not dtype.is_complex else None)
            host = torch.stack(list(raw)).to(torch.float64).cpu().numpy()
        state = settle(host, chosen)
        for j, i in enumerate(idx):
            out_norms[i] = float(host[j])
            out_states[i] = GradState.finite if state is None else GradState(int(state[j]))
    return out_norms, out_states


def _dot_norms(tensors: list[torch.Tensor]) -> np.ndarray:
    """Norms of CPU float32/64 tensors as square roots of BLAS dot products (a third faster than
    ``_foreach_norm`` on large tensors); squares that under- or overflow are suspects for ``settle``."""
    flats = [_dense(t).reshape(-1) for t in tensors]
    squares = torch.stack([torch.dot(f, f) for f in flats]).to(torch.float64)
    return squares.sqrt_().numpy()


def node_norm(g: torch.Tensor) -> torch.Tensor | float | None:
    """Norm of the gradient reaching an autograd node, for a backward hook: a float on the CPU (exact, with
    the rare suspects settled right away), a 0-d tensor elsewhere (no device sync inside backward; read
    after backward), None when the gradient cannot be read.

    The common case (a contiguous float32/64 gradient on the CPU) is one BLAS dot product of the gradient
    with itself: about half the time of ``vector_norm``, and a squared norm that under- or overflows is a
    suspect settled exactly like any other."""
    if type(g) is torch.Tensor and g.dtype in FULL_PRECISION and g.device.type == "cpu" and g.is_contiguous():
        if g.numel() == 0:
            return 0.0
        flat = g.detach().view(-1)
        value = math.sqrt(torch.dot(flat, flat).item()) if flat.numel() > 1 else abs(flat.item())
    else:
        if not readable(g) or is_sharded(g):
            return None
        if g.numel() == 0:
            return 0.0
        n = torch.linalg.vector_norm(_dense(g), dtype=accumulate_dtype(g.dtype))
        if g.is_complex():
            n = n.real
        if g.device.type != "cpu":
            return n
        value = n.item()
    if value == 0 or not math.isfinite(value):
        fixed = np.array([value])
        settle(fixed, [g])
        value = float(fixed[0])
    return value
