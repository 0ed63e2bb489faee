"""``torch.distributed`` support: which rank records, and the norms of sharded (DTensor) tensors.

Nothing here imports ``torch.distributed.tensor``: a DTensor can only exist once that module is imported, so
:func:`is_sharded` looks it up in ``sys.modules`` (importing gradviz stays cheap).

# NOTE [norms of sharded tensors]
# A DTensor (the parameters and gradients of FSDP2's ``fully_shard``, ``distribute_tensor``) holds one shard
# per rank. Its L2 norm is sqrt(sum over shards of ‖shard‖²). Each rank takes the norms of its local shards
# (one batched _foreach_norm), squares them into ONE float64 vector, and one all_reduce(SUM) of that vector
# over the mesh dimension that shards them gives every rank the same full norms: one collective per step
# for all parameters (per mesh dimension that shards them: 1 for FSDP2 and HSDP, 2 for FSDP2 x TP), never
# one per parameter.
# - Replicate mesh dimensions hold the same values on every rank: no reduction over them.
# - Partial placements (local values are addends of the full tensor, not pieces of it) are made whole first,
#   one collective per such tensor. FSDP2 leaves its gradients Shard(0), never Partial.
# - Exactness: a local norm of 0 or not finite is checked on the rank that holds it (peak |x|, then the
#   norm rescaled by the peak in float64), before the all_reduce. So the full norm is 0 only when every
#   element is 0 and not finite only when some element is: the GradState follows from the norm alone.
#   The check needs the local norms on the host: on GPU, one small device sync per call.
# - These are collectives: every rank of the mesh must call them with the same tensors in the same order.
#   An empty local shard (uneven sharding) counts 0.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeGuard

import torch
import torch.distributed as dist

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup
    from torch.distributed.tensor import DTensor

__all__ = [
    "any_sharded",
    "full_norms",
    "is_sharded",
    "model_name",
    "norm_values",
    "rank",
    "records_on",
    "world_size",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def rank() -> int:
    """This process's rank in the default process group (0 when torch.distributed is not initialized)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0")) if _launched() else 0


def world_size() -> int:
    """Processes in the default group (1 when torch.distributed is not initialized)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1")) if _launched() else 1


def _launched() -> bool:
    """torchrun (or a launcher like it) set RANK and WORLD_SIZE, but init_process_group is not called yet."""
    return os.environ.get("RANK", "").isdigit() and os.environ.get("WORLD_SIZE", "").isdigit()


def records_on(ranks: int | Sequence[int] | str | None, this_rank: int | None = None) -> bool:
    """Whether this rank records, given watch's ``ranks=``: an int, a sequence of ints, ``"all"``.

    ``None`` means the default, rank 0 only.
    """
    r = rank() if this_rank is None else this_rank
    if ranks is None:
        return r == 0
    if ranks == "all":
        return True
    if isinstance(ranks, str):
        raise ValueError(f"ranks must be an int, a list of ints or 'all', got {ranks!r}.")
    if isinstance(ranks, bool):  # an int, but not a rank
        raise ValueError(f"ranks must be an int, a list of ints or 'all', got {ranks!r}.")
    if isinstance(ranks, int):
        return r == ranks
    try:
        chosen = {int(x) for x in ranks}
    except (TypeError, ValueError):
        raise ValueError(f"ranks must be an int, a list of ints or 'all', got {ranks!r}.") from None
    return r in chosen


def is_sharded(t: object) -> TypeGuard[DTensor]:
    """Whether ``t`` is a DTensor (its values are spread over ranks)."""
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(t, module.DTensor)


def any_sharded(tensors: Sequence[object]) -> bool:
    if "torch.distributed.tensor" not in sys.modules:
        return False
    return any(is_sharded(t) for t in tensors)


def full_norms(tensors: Sequence[torch.Tensor], acc: torch.dtype | None = None) -> list[torch.Tensor]:
    """L2 norm of each tensor, of the full tensor for DTensors: 0-d tensors, like ``torch._foreach_norm``.

    Plain tensors: one ``_foreach_norm``. DTensors: local shard norms and one all_reduce of a vector (see
    NOTE [norms of sharded tensors]). A collective when any tensor is sharded: call it on every rank.
    ``acc`` is the dtype the norms accumulate in (None: each tensor's own), as for ``_foreach_norm``.
    """
    out: list[torch.Tensor | None] = [None] * len(tensors)
    plain = [i for i, t in enumerate(tensors) if not is_sharded(t)]
    if plain:
        for i, n in zip(plain, torch._foreach_norm([tensors[i] for i in plain], 2, dtype=acc), strict=True):
            out[i] = n
    # Tensors whose shards spread over the same process groups share one vector. Keyed by the groups, not
    # the mesh: each fully_shard() call makes its own DeviceMesh object over the same group.
    groups: dict[tuple[int, ...], tuple[list[ProcessGroup], list[int], list[torch.Tensor]]] = {}
    mesh_groups: dict[tuple[int, tuple[int, ...]], list[ProcessGroup]] = {}
    for i, tensor in enumerate(tensors):
        if out[i] is not None or not is_sharded(tensor):  # a plain tensor: its norm is in already
            continue
        t = _without_partial(tensor)
        mesh = t.device_mesh
        dims = tuple(d for d, p in enumerate(t.placements) if p.is_shard())
        pgs = mesh_groups.get((id(mesh), dims))
        if pgs is None:
            pgs = mesh_groups[(id(mesh), dims)] = [mesh.get_group(d) for d in dims]
        _, index, local = groups.setdefault(tuple(id(pg) for pg in pgs), (pgs, [], []))
        index.append(i)
        local.append(t.to_local())
    for pgs, index, local in groups.values():
        squares = _exact_local_norms(local).square()
        for pg in pgs:
            dist.all_reduce(squares, op=dist.ReduceOp.SUM, group=pg)
        full = squares.sqrt()
        for j, i in enumerate(index):
            dtype = acc if acc is not None else tensors[i].dtype
            out[i] = full[j].to(dtype)
    return out  # type: ignore[return-value]


def norm_values(tensors: Sequence[torch.Tensor]) -> list[float]:
    """:func:`full_norms` of floating-point tensors as Python floats (float64 host copy; NaN for others)."""
    values = [float("nan")] * len(tensors)
    idx = [i for i, t in enumerate(tensors) if t.is_floating_point() or t.is_complex()]
    if idx:
        chosen = [tensors[i].detach() for i in idx]
        acc = [None if t.is_complex() else torch.float64 for t in chosen]  # one call unless complex
        norms = [n.double() for n in _by_acc(chosen, acc)]
        for i, v in zip(idx, torch.stack(norms).cpu().tolist(), strict=True):
            values[i] = v
    return values


def _by_acc(tensors: list[torch.Tensor], acc: list[torch.dtype | None]) -> list[torch.Tensor]:
    """full_norms of tensors with differing accumulation dtypes, in one call per dtype (same order)."""
    out: list[torch.Tensor | None] = [None] * len(tensors)
    for dtype in dict.fromkeys(acc):
        idx = [i for i, a in enumerate(acc) if a == dtype]
        for i, n in zip(idx, full_norms([tensors[i] for i in idx], dtype), strict=True):
            out[i] = n
    return out  # type: ignore[return-value]


def _without_partial(t: DTensor) -> DTensor:
    """A DTensor with Partial placements made whole (one collective); others as they are."""
    if not any(p.is_partial() for p in t.placements):
        return t
    from torch.distributed.tensor import Replicate

    placements = [Replicate() if p.is_partial() else p for p in t.placements]
    return t.redistribute(placements=placements)


def _exact_local_norms(local: list[torch.Tensor]) -> torch.Tensor:
    """float64 norms of ``local``: those that are 0 or not finite rechecked by their peak |value|."""
    acc = [torch.float32 if t.dtype in _LOW_PRECISION else None for t in local]
    raw: Sequence[torch.Tensor]
    if len(set(acc)) == 1:
        raw = torch._foreach_norm(local, 2, dtype=acc[0])
    else:
        raw = [torch.linalg.vector_norm(t, dtype=a) for t, a in zip(local, acc, strict=True)]
    norms = torch.stack([n.double() for n in raw]) if raw else torch.zeros(0, dtype=torch.float64)
    host = norms.cpu().tolist()
    suspects = [j for j, v in enumerate(host) if (v == 0 or not math.isfinite(v)) and local[j].numel() > 0]
    if not suspects:
        return norms
    sus = [local[j].detach() for j in suspects]
    sus = [s.coalesce().values() if s.is_sparse else s for s in sus]
    peaks = torch.stack(torch._foreach_norm(sus, math.inf)).double().cpu().tolist()
    fixed = list(host)
    for j, s, peak in zip(suspects, sus, peaks, strict=True):
        if peak == 0 or not math.isfinite(peak):
            fixed[j] = 0.0 if peak == 0 else host[j] if not math.isfinite(host[j]) else math.inf
            continue
        fixed[j] = float(torch.linalg.vector_norm(s.double() / peak)) * peak
    return torch.tensor(fixed, dtype=torch.float64, device=norms.device)


def model_name(model: torch.nn.Module) -> str:
    """The class name of the user's model inside DDP / DataParallel, and without FSDP2's ``FSDP`` class."""
    from gradviz.capture._targets import unwrap

    cls = type(unwrap(model))
    fsdp = sys.modules.get("torch.distributed.fsdp")
    if (
        fsdp is not None
        and issubclass(cls, getattr(fsdp, "FSDPModule", ()))
        and cls.__name__.startswith("FSDP")
    ):
        user = [base for base in cls.__bases__ if base is not fsdp.FSDPModule]
        if user:
            return user[0].__name__
    return cls.__name__
