"""Per-tensor lineage: which targets a tensor depends on by value, and which it still reaches by autograd.

# NOTE [lineage entries]
# Entries are keyed by ``id(tensor)`` and hold a weak reference to the tensor, checked on every lookup,
# so a recycled id never inherits a dead tensor's lineage and no tensor is kept alive. An entry is
#   (ref, values, grads, cuts, made_by)
# values: bitset of targets the tensor's value depends on; grads: bitset of targets it still reaches
# through autograd (a subset of values); cuts: indices of the Cut records on its lineage (in order);
# made_by: index of the Op that produced it (-1 for targets themselves). A target is never "produced":
# in-place updates of a target (optimizer steps, init) leave its entry alone.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

Entry = tuple[Any, int, int, tuple[int, ...], int]
_Tensor = torch.Tensor


class Lineage:
    __slots__ = ("entries", "targets")

    def __init__(self) -> None:
        self.entries: dict[int, Entry] = {}
        self.targets: dict[int, int] = {}  # id(target tensor) -> target index

    def add_target(self, tensor: torch.Tensor, index: int) -> None:
        bit = 1 << index
        self.entries[id(tensor)] = (weakref.ref(tensor), bit, bit if tensor.requires_grad else 0, (), -1)
        self.targets[id(tensor)] = index

    def get(self, tensor: torch.Tensor) -> Entry | None:
        entry = self.entries.get(id(tensor))
        if entry is None or entry[0]() is not tensor:
            return None
        return entry

    def set(self, tensor: torch.Tensor, values: int, grads: int, cuts: tuple[int, ...], made_by: int) -> None:
        key = id(tensor)
        old = self.entries.get(key)
        if old is not None and old[4] == -1 and old[0]() is tensor:
            return  # a target keeps its own lineage (see NOTE above)
        if values or cuts:
            self.entries[key] = (weakref.ref(tensor), values, grads, cuts, made_by)
        elif old is not None:
            del self.entries[key]

    def is_target(self, tensor: torch.Tensor) -> bool:
        entry = self.entries.get(id(tensor))
        return entry is not None and entry[4] == -1 and entry[0]() is tensor

    def clear(self) -> None:
        self.entries.clear()
        self.targets.clear()


def merge(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Ordered union of two small tuples of cut indices."""
    if not a:
        return b
    if not b or a == b:
        return a
    return a + tuple(i for i in b if i not in a)


def tensors_in(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """Tensor arguments, looking one level into lists and tuples (torch.cat, RNN weight lists)."""
    found: list[torch.Tensor] = []
    for a in args:
        if isinstance(a, _Tensor):
            found.append(a)
        elif isinstance(a, (list, tuple)):
            found.extend(b for b in a if isinstance(b, _Tensor))
    if kwargs:
        for a in kwargs.values():
            if isinstance(a, _Tensor):
                found.append(a)
            elif isinstance(a, (list, tuple)):
                found.extend(b for b in a if isinstance(b, _Tensor))
    return found


def tensors_out(out: object) -> list[torch.Tensor]:
    """Tensor results, looking two levels into tuples (LSTM returns (output, (h, c)))."""
    if isinstance(out, _Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        found: list[torch.Tensor] = []
        for a in out:
            if isinstance(a, _Tensor):
                found.append(a)
            elif isinstance(a, (list, tuple)):
                found.extend(b for b in a if isinstance(b, _Tensor))
        return found
    return []
