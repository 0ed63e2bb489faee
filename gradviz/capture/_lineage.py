"""Per-tensor lineage: which targets a tensor depends on by value, and which it still reaches by autograd.

# NOTE [lineage entries]
# Entries are keyed by ``id(tensor)`` and hold a weak reference to the tensor, checked on every lookup,
# so a recycled id never inherits a dead tensor's lineage and no tensor is kept alive. An entry is
#   (ref, values, grads, cuts, made_by)
# values: bitset of targets the tensor's value depends on; grads: bitset of targets it still reaches
# through autograd (a subset of values); cuts: indices of the Cut records on its lineage (in order);
# made_by: index of the Op that produced it (-1 for targets themselves). A target is never "produced":
# in-place updates of a target (optimizer steps, init) leave its entry alone.
#
# NOTE [what would learn without a cut]
# "Would the encoder learn without this .detach()?" is answered from the forward, with no re-run. A cut
# belongs to a group: the cuts one edit of the code removes (same cause, same line: a ``.detach()`` run in
# a loop, the ops of one ``with torch.no_grad():``). Beside its lineage, a tensor with cuts on it may have
# a shadow: group -> the targets it would reach by autograd if that group's cuts were identities and every
# other cut stayed. An op takes the union of its inputs' shadows; a cut of group G gives its output
# {G: what its input reaches, and what its input's shadow of G holds}; any other op that would end a
# gradient path even on live inputs (a detach, an op run with gradients off, a result that cannot carry a
# gradient) ends the shadows that reach it, except its own group's, and records that as a Recut: without
# the earlier cut, this one would still stop those targets. The loss's shadow is its Root's, and
# ``verdicts.without`` reads it. Only tensors with a cut on their lineage carry one: a forward with no cut
# pays nothing.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from gradviz.records import Inplace, Site

Entry = tuple[Any, int, int, tuple[int, ...], int]
_Tensor = torch.Tensor


class Lineage:
    __slots__ = ("entries", "shadows", "targets")

    def __init__(self) -> None:
        self.entries: dict[int, Entry] = {}
        self.targets: dict[int, int] = {}  # id(target tensor) -> target index
        # id(tensor) -> (its entry, its shadow): valid while ``entries`` holds that very entry
        self.shadows: dict[int, tuple[Entry, dict[int, int]]] = {}

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

    def shadow(self, tensor: torch.Tensor) -> dict[int, int]:
        """The tensor's shadow (NOTE [what would learn without a cut]); empty if it has none."""
        entry = self.entries.get(id(tensor))
        held = self.shadows.get(id(tensor))
        if held is None or entry is None or held[0] is not entry or entry[0]() is not tensor:
            return {}
        return held[1]

    def set_shadow(self, tensor: torch.Tensor, shadow: dict[int, int]) -> None:
        """Give ``tensor`` (which has an entry) ``shadow``, or drop the one it had."""
        entry = self.entries.get(id(tensor))
        if shadow and entry is not None:
            self.shadows[id(tensor)] = (entry, shadow)
        else:
            self.shadows.pop(id(tensor), None)

    def is_target(self, tensor: torch.Tensor) -> bool:
        entry = self.entries.get(id(tensor))
        return entry is not None and entry[4] == -1 and entry[0]() is tensor

    def clear(self) -> None:
        self.entries.clear()
        self.targets.clear()
        self.shadows.clear()


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


def is_leaf(t: torch.Tensor) -> bool:
    """``t.is_leaf``, which raises for a view made under no_grad whose base was then modified in place
    (``nn.Embedding(padding_idx=...)`` zeroes its padding row that way): such a view has no history."""
    try:
        return t.is_leaf
    except RuntimeError:
        return True


def clear_how(op: str) -> str:
    """How an in-place ``op`` on a ``.grad`` a backward filled may have cleared it (``Clear.how``):
    zero_() and _foreach_zero_ (zero_grad(set_to_none=False)) say so; any other op wrote into it."""
    return "zeroed" if op.endswith("zero_") else f"written by {op}"


def write_record(
    t: torch.Tensor,
    op: str,
    site: Site | None,
    made_by: str,
    module: str = "",
    index: int = -1,
    version: int | None = None,
) -> Inplace:
    """The record of an in-place write of ``t`` by ``op`` (``version``: as the write left it; read from
    ``t`` when not given)."""
    return Inplace(
        op=op,
        site=site,
        shape=tuple(t.shape),
        dtype=str(t.dtype).removeprefix("torch."),
        version=t._version if version is None else version,
        made_by=made_by,
        is_leaf=is_leaf(t),
        module=module,
        index=index,
    )
