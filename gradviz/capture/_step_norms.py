"""The norms of one recorded step of a watched run: parameters grouped by device and dtype, one foreach
call per group, weight snapshots and the update, and the row they make (a mixin of the Recorder, which
owns the hooks, in _watch.py).

# NOTE [cost of a recorded step]
# For parameters holding N values in total, per device and dtype group:
#   every recorded step   one torch._foreach_norm over the .grad that are not None       reads N
#                         one torch.stack of the norms, one copy to the host; no .item()
#   weight steps only     _foreach_norm of the weights                                     reads N
#   (every weights_every  _foreach_copy_ into a snapshot before the update, then           reads 4N, writes 2N
#    recorded steps)      _foreach_sub_ and _foreach_norm after it
# Measured on CPU, the weight work costs 2-5x the gradient work and evicts the optimizer's state from the
# caches, so it runs on a sparser cadence. The snapshot is one extra copy of the parameters the optimizer
# updates, kept between weight steps (re-allocating it costs more than the copy).
# A second, small host copy happens only when some gradient norm is 0 or not finite (see _norms.settle).
# Steps that are not recorded (every=N) cost one modulo.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils._foreach_utils import _group_tensors_by_device_and_dtype

from gradviz.capture._headroom import HeadroomTracker
from gradviz.capture._norms import device_norms, settle
from gradviz.records import GradState, StepBuffer

__all__ = ["Group", "Part", "StepNorms"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)
Key = tuple[str, torch.dtype, tuple[int, ...]]


@dataclass
class Group:
    """Watched parameters sharing a device and dtype: one foreach call each."""

    index: list[int]  # positions in Recorder.params
    device: torch.device
    dtype: torch.dtype
    acc: torch.dtype | None  # dtype the norms accumulate in (float32 for half types, else the tensors' own)

    def key(self, positions: list[int]) -> Key:
        """Names the snapshot of the parameters at ``positions`` (positions in ``index``)."""
        return str(self.device), self.dtype, tuple(self.index[j] for j in positions)


@dataclass
class Part:
    """The device-side norms of one group at one step, before they go to the host."""

    group: Group
    have: list[int]  # positions in group.index whose .grad was not None
    grads: list[torch.Tensor]
    grad_norms: list[torch.Tensor] | tuple[torch.Tensor, ...]  # a list or tuple, as torch.stack takes
    param_norms: Sequence[torch.Tensor] = ()
    planned: list[int] = field(default_factory=list)  # positions snapshotted before the update
    updated: list[int] = field(default_factory=list)  # positions whose update was measured
    update_norms: Sequence[torch.Tensor] = ()


class StepNorms:
    """What a Recorder measures at a step, and the row it appends (NOTE [cost of a recorded step])."""

    params: list[torch.Tensor]
    optimizer: torch.optim.Optimizer | None
    buffer: StepBuffer
    headroom: HeadroomTracker
    _snapshots: dict[Key, list[torch.Tensor]]
    _groups_cache: list[Group] | None
    _all_finite: np.ndarray

    def _layout(self, *, fresh: bool) -> list[Group]:
        if fresh or self._groups_cache is None:
            self._groups_cache = self._groups()
        return self._groups_cache

    def _groups(self) -> list[Group]:
        if not self.params:
            return []
        found = _group_tensors_by_device_and_dtype([self.params], with_indices=True)  # type: ignore[list-item]
        return [
            Group(index, device, dtype, torch.float32 if dtype in _LOW_PRECISION else None)
            for (device, dtype), (_, index) in found.items()
        ]

    def _tensors(self, group: Group, positions: list[int] | None = None) -> list[torch.Tensor]:
        count = len(group.index) if positions is None else len(positions)
        if count == len(self.params):
            return self.params
        if positions is None:
            return [self.params[i] for i in group.index]
        return [self.params[group.index[j]] for j in positions]

    def _measure(self, groups: list[Group]) -> list[Part]:
        parts = []
        for group in groups:
            grads = [p.grad for p in self._tensors(group)]
            have = [j for j, g in enumerate(grads) if g is not None]
            present = grads if len(have) == len(grads) else [grads[j] for j in have]
            parts.append(Part(group, have, present, device_norms(present, group.acc)))  # type: ignore[arg-type]
        return parts

    def _in_optimizer(self, group: Group) -> list[int]:
        assert self.optimizer is not None
        held = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
        return [j for j, i in enumerate(group.index) if id(self.params[i]) in held]

    @staticmethod
    def _all(group: Group) -> list[int]:
        return list(range(len(group.index)))

    def _snapshot(self, groups: list[Group], updated: Callable[[Group], list[int]]) -> list[list[int]]:
        """Copy the weights each group's update will change; drop snapshots no group uses any more."""
        keep, chosen = set(), []
        for group in groups:
            positions = updated(group)
            chosen.append(positions)
            if positions:
                keep.add(self._copy_snapshot(group, positions))
        for key in set(self._snapshots) - keep:
            del self._snapshots[key]
        return chosen

    def _copy_snapshot(self, group: Group, positions: list[int]) -> Key:
        key = group.key(positions)
        src = self._tensors(group, positions)
        dst = self._snapshots.get(key)
        if dst is None:
            dst = self._snapshots[key] = [torch.empty_like(s) for s in src]
        try:
            torch._foreach_copy_(dst, src)
        except RuntimeError:  # a parameter changed shape (p.data = ...): start a new snapshot
            self._snapshots[key] = [s.clone() for s in src]
        return key

    def _measure_update(
        self, part: Part, positions: list[int], *, weights_from_snapshot: bool = False
    ) -> None:
        """Norms of (weights before - weights now), computed in the snapshot buffer itself."""
        snap = self._snapshots.get(part.group.key(positions)) if positions else None
        if snap is None:
            if weights_from_snapshot:
                part.param_norms = device_norms(self._tensors(part.group), part.group.acc)
            return
        if weights_from_snapshot:  # manual steps: the gradients were computed at the snapshot's weights
            part.param_norms = device_norms(snap, part.group.acc)
        torch._foreach_sub_(snap, self._tensors(part.group, positions))
        part.updated = positions
        part.update_norms = device_norms(snap, part.group.acc)

    def _append_row(self, step: int, parts: list[Part]) -> None:
        count = len(self.params)
        if len(parts) == 1 and not parts[0].param_norms and len(parts[0].have) == count:
            # the common step: one group (its index is 0..count-1), every gradient present, no weights
            grad = torch.stack(parts[0].grad_norms).to(torch.float32).cpu().numpy()
            state = settle(grad, parts[0].grads)
            if state is None:
                self.buffer.append(step, grad, self._all_finite, clean=True)
            else:
                self.buffer.append(step, grad, state)
            self.headroom.observe(step, grad, parts)
            return
        grad = np.full(count, np.nan, np.float32)
        state = np.zeros(count, np.uint8)
        weight = delta = None
        for part in parts:
            norms = [*part.grad_norms, *part.param_norms, *part.update_norms]
            if not norms:
                continue
            host = torch.stack(norms).to(torch.float32).cpu().numpy()
            k, m = len(part.grad_norms), len(part.param_norms)
            have = [part.group.index[j] for j in part.have]
            grad[have] = host[:k]
            states = settle(grad, part.grads, have)
            state[have] = GradState.finite if states is None else states
            if m:
                weight = np.full(count, np.nan, np.float32) if weight is None else weight
                weight[part.group.index] = host[k : k + m]
            if part.update_norms:
                delta = np.full(count, np.nan, np.float32) if delta is None else delta
                delta[[part.group.index[j] for j in part.updated]] = host[k + m :]
        ratio = None
        if weight is not None and delta is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = delta / weight
        self.buffer.append(step, grad, state, weight, ratio)
        self.headroom.observe(step, grad, parts)
