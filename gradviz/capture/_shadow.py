"""Shadows of a forward: what each cut group alone keeps from the loss (NOTE [what would learn without a
cut] in _lineage.py). The tracer calls :meth:`Shadows.op` after an op whose inputs carry a shadow or that
made a cut; nothing else runs for a forward with no cut."""

from __future__ import annotations

from collections.abc import Callable

import torch

from gradviz.capture._lineage import Lineage
from gradviz.records import Capture, Cause, Cut, CutHow, Recut, Site

__all__ = ["CutKey", "Shadows", "cut_key", "cut_key_of", "union"]

# (cause, how, where): the key of a cut group
_Key = tuple[Cause, CutHow, str]
CutKey = _Key


def union(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    """Group by group union of two shadows (new dict when both have entries)."""
    if not a:
        return b
    if not b or a is b:
        return a
    merged = dict(a)
    for group, bits in b.items():
        merged[group] = merged.get(group, 0) | bits
    return merged


def _key(cause: Cause, how: CutHow, site: Site | None) -> _Key:
    return (cause, how, site.where if site is not None else "")


def cut_key(cut: Cut) -> CutKey:
    """The key of ``cut``'s group: what a re-run with that group removed looks for."""
    return _key(cut.kind, cut.how, cut.site)


def cut_key_of(cause: tuple[Cause, CutHow, Site | None, Site | None]) -> CutKey:
    """The key of the group a cut of this (cause, how, where, op_site) would belong to."""
    return _key(cause[0], cause[1], cause[2])


class Shadows:
    __slots__ = ("cap", "groups", "lineage", "removed", "removing")

    def __init__(self, cap: Capture, lineage: Lineage) -> None:
        self.cap = cap
        self.lineage = lineage
        self.groups: dict[_Key, int] = {}  # key -> index of the group's first cut
        # a re-run that confirms a what-if: the group whose cuts run as identities, and how often one did
        self.removing: _Key | None = None
        self.removed = 0

    # -- a re-run with one group removed -------------------------------------------------------------------

    def identity(self, detach_like: bool, args: tuple, key: Callable[[], _Key]) -> tuple[bool, object]:
        """(True, result) when this op is a cut of the group being removed, run as an identity: a detach
        or ``.data`` gives its input back, a new tensor made from tensors stacks them."""
        if self.removing is None or key() != self.removing or not args:
            return False, None
        if detach_like and isinstance(args[0], torch.Tensor):
            self.removed += 1
            return True, args[0]
        values = args[0]
        if isinstance(values, (list, tuple)) and values and all(isinstance(v, torch.Tensor) for v in values):
            self.removed += 1
            return True, torch.stack(list(values))
        return False, None

    def keeps_grad_on(self, switch: Site | None) -> bool:
        """Whether a switch of gradients off at ``switch`` belongs to the group being removed."""
        hit = self.removing is not None and self.removing == _key(Cause.no_grad, CutHow.grad_switch, switch)
        self.removed += hit
        return hit

    def group(self, cut: Cut) -> int:
        """Put ``cut`` in its group (the first cut of the same cause and how at the same line)."""
        cut.group = self.groups.setdefault(_key(cut.kind, cut.how, cut.site), cut.index)
        return cut.group

    def op(
        self,
        index: int,
        name: str,
        outputs: list[torch.Tensor],
        grads: int,
        shadow: dict[int, int],
        cut: int,
        passes: bool,
        cause: Callable[[], tuple[Cause, CutHow, Site | None, Site | None]],
    ) -> None:
        """After op ``index``: give its outputs their shadows. ``cut``: the cut it made (-1: none);
        ``passes``: on live inputs its dead outputs would carry a gradient (gradients on, a floating
        result, an op that is no detach); ``cause``: the cut it would be on live inputs."""
        group = self.group(self.cap.cuts[cut]) if cut >= 0 else -1
        recut: Recut | None = None  # this op stops other groups' shadows too: recorded once
        for o in outputs:
            if o.requires_grad:
                self._set(o, shadow, index)
                continue
            if group >= 0 and self.cap.cuts[cut].kind is Cause.checkpoint:
                # a reentrant checkpoint cuts only while none of its inputs carries a gradient: without
                # a cut that kept one from its input, it cuts nothing (NOTE [what would learn ...])
                shaded = {g: bits | grads for g, bits in shadow.items()}
                shaded[group] = grads | shadow.get(group, 0)
                self._set(o, shaded, index)
            elif group >= 0:  # a cut of ``group``: without it, its input's gradient paths go on
                self._set(o, {group: grads | shadow.get(group, 0)}, index)
                recut = recut or self._recut(
                    index, name, shadow, group, self.cap.cuts[cut].kind, self.cap.cuts[cut].site
                )
            elif passes:  # its input is dead only because an earlier cut made it so
                self._set(o, shadow, index)
            else:  # it would cut too: only its own group's shadow goes through
                kind, how, where, _ = cause()
                if kind is Cause.checkpoint:  # a reentrant checkpoint's op: live inputs make it no cut
                    self._set(o, shadow, index)
                    continue
                own = self.groups.get(_key(kind, how, where), -1)
                self._set(o, {own: shadow[own]} if own in shadow else {}, index)
                recut = recut or self._recut(index, name, shadow, own, kind, where)
        if recut is not None:
            self.cap.recuts.append(recut)

    @staticmethod
    def _recut(
        index: int, name: str, shadow: dict[int, int], own: int, kind: Cause, site: Site | None
    ) -> Recut | None:
        """The shadows of the groups other than ``own`` that this op stops (None: none)."""
        blocked = {g: bits for g, bits in shadow.items() if g != own}
        return Recut(index, name, kind, site, blocked) if blocked else None

    def _set(self, tensor: torch.Tensor, shadow: dict[int, int], index: int) -> None:
        """The shadow of ``tensor``, whose lineage entry op ``index`` has just set (a target's own entry,
        which an op never replaces, gets none)."""
        entry = self.lineage.entries.get(id(tensor))
        if entry is None or entry[4] != index or entry[0]() is not tensor:
            return
        if shadow:
            self.lineage.shadows[id(tensor)] = (entry, shadow)
        else:
            self.lineage.shadows.pop(id(tensor), None)
