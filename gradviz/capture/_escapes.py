"""The tracer's part that follows values out of torch and back in (NOTE [escaped means it came back])."""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any

import torch

from gradviz.capture import _frames
from gradviz.capture._lineage import merge
from gradviz.capture._tracer_part import TracerPart
from gradviz.records import Cause, CutHow, Site


class Escapes(TracerPart):
    """Mixed into the Tracer: ``.item()`` / ``.tolist()`` / ``.numpy()`` and what comes back of them."""

    # what left torch: (shape and sample, targets that shaped it, its cuts, the user's line where it left)
    _prints: list[tuple[tuple[tuple[int, ...], tuple[float, ...]], int, tuple[int, ...], Site | None]]
    _print_births: dict[int, int]
    _print_objects: dict[int, tuple[object, int]]
    _served: dict[int, tuple[Any, int, Cause, str]]  # id(detached tensor) -> (ref, cut, kind, op) before
    _back_birth: int

    def _escape(self, name, values, grads, cuts, inputs, site, index, caller_index=0, out=None) -> None:
        if any(self.marks.is_root(t) for t in inputs):
            return  # logging the loss with loss.item() after backward is not an escape from the graph
        where, op_site = (_frames.SITES[caller_index], site) if caller_index else (site, None)
        if not values:
            # a value no target shaped left torch: a candidate too for what comes back (the one whose very
            # values come back is taken: not one a target shaped, which left before or after it, with the
            # same shape); one that holds a NaN/Inf born in the trace brings that birth back with it
            if inputs:
                self._printed(inputs[0], 0, (), out, where)
            return
        for t in inputs:  # `h.detach().numpy()`: the detach only serves the escape; the escape is the cause
            entry = self.lineage.get(t)
            if entry is None or entry[4] < 0:
                continue
            for i in entry[3]:
                cut = self.cap.cuts[i]
                if cut.op_index == entry[4] and cut.kind in (Cause.detach, Cause.data):
                    # kept to undo, should the detached tensor itself go on into the graph (_used_again)
                    self._served[id(t)] = (weakref.ref(t), i, cut.kind, cut.op)
                    cut.kind, cut.how, cut.op = Cause.escaped, CutHow.after_detach, name
        if grads:
            cuts = merge(cuts, (self._cut(name, Cause.escaped, CutHow.op, where, grads, index, op_site),))
        self.cap.escaped |= values
        self.cap.escape_cuts = merge(self.cap.escape_cuts, cuts)
        if inputs:
            self._printed(inputs[0], values, cuts, out, where)

    def _used_again(self, inputs: list[torch.Tensor]) -> None:
        """A tensor whose detach was taken for the escape's (``h.data`` then ``h.data.tolist()``) goes on
        into another op (``h.data + ...``): the detach cuts a path of its own, so it is a detach again."""
        for t in inputs:
            hit = self._served.get(id(t))
            if hit is not None and hit[0]() is t:
                del self._served[id(t)]
                cut = self.cap.cuts[hit[1]]
                cut.kind, cut.how, cut.op = hit[2], CutHow.op, hit[3]

    def _printed(
        self, t: torch.Tensor, values: int, cuts: tuple[int, ...], out: object, where: Site | None
    ) -> None:
        shown = _fingerprint(t)
        if shown is not None:
            self._prints.append((shown, values, cuts, where))
            if isinstance(out, (float, list)):  # the object itself may come back, whatever its value
                self._print_objects[id(out)] = (out, len(self._prints) - 1)
            if self.finite is not None:  # a NaN it carried comes back with it (see _came_back)
                born = self.finite._taint_of([t])
                if born >= 0:
                    self._print_births[len(self._prints) - 1] = born

    def _came_back(
        self, external: list[torch.Tensor] | None, args: tuple, kwargs: dict
    ) -> tuple[int, tuple[int, ...]]:
        """Values that left torch and come back in this op's arguments: a new tensor with the values of an
        escaped one (``torch.from_numpy(np.array(h.tolist()))``), or the very number ``.item()`` gave.

        # NOTE [escaped means it came back]
        # A value that left torch (``.item()``, ``.tolist()``, ``.numpy()``) cuts the gradient only if it
        # comes back into the loss; logging it cuts nothing. ``torch.tensor(...)`` is linked to every
        # escape (CREATE ops); a tensor torch made without the tracer seeing it (``from_numpy``) or a
        # Python number is recognised: a tensor first seen after the escape with the escaped tensor's shape
        # (its values may have gone through numpy: np.tanh(h.numpy())), a number by its value. Tensors a
        # traced op made from nothing that left torch (``torch.ones``, ``tanh(x)``) are never taken for
        # one, whatever their shape: the tracer saw them made; nor are tensors in memory torch allocated
        # (data loaded before the trace: only numpy's memory, shared by from_numpy, comes back). A number
        # changed in Python before it comes back cannot be followed: the verdict says so.
        """
        values = 0
        cuts: tuple[int, ...] = ()
        for t in external or ():
            if t.requires_grad or not t.is_floating_point() or t.numel() < 2 or _torch_owned(t):
                continue
            found = [k for k, ((shape, _), *_) in enumerate(self._prints) if shape == tuple(t.shape)]
            if len(found) > 1:  # several escapes of that shape: the one whose very values these are, if any
                mine = _fingerprint(t)
                copies = [k for k in found if mine and _same_sample(mine[1], self._prints[k][0][1])]
                found = copies or found
            self._which_came_back(found)
            v_t: int = 0
            c_t: tuple[int, ...] = ()
            for k in found:
                _, v, c, _ = self._prints[k]
                v_t, c_t = v_t | v, merge(c_t, c)
                born = self._print_births.get(k, -1)
                if born >= 0 and self.finite is not None:
                    self.finite.taint_if_nonfinite(t, born)
            if found:
                self.lineage.set(t, v_t, 0, c_t, len(self.log))
                values |= v_t
                cuts = merge(cuts, c_t)
        for data in (*args, *kwargs.values()):
            held = self._print_objects.get(id(data))
            if held is not None and held[0] is data:  # the very number or list an escape gave
                _, v, c, _ = self._prints[held[1]]
                values |= v
                cuts = merge(cuts, c)
                self._back_birth = self._print_births.get(held[1], self._back_birth)
                continue
            flat = _numbers(data)
            if not flat:
                continue
            for k in range(len(self._prints) - 1, -1, -1):  # the latest escape of these numbers came back
                (shape, sample), v, c, _ = self._prints[k]
                numel = math.prod(shape)
                same = bool(sample) and numel == len(flat) and _alike(flat[:: max(1, numel // 8)][:8], sample)
                if same or (
                    len(sample) == 1 and sample[0] not in (0.0, 1.0, -1.0) and _among(sample[0], flat)
                ):
                    values |= v
                    cuts = merge(cuts, c)
                    self._back_birth = self._print_births.get(k, self._back_birth)
                    if len(sample) == 1:  # one number: one escape gave it
                        break
        return values, cuts

    def _which_came_back(self, found: list[int]) -> None:
        """Say on the escape cuts of the ``found`` escapes whether a tensor surely holds their values (one
        escape, or escapes at one line) or may hold another line's instead (values changed in NumPy: any of
        them; the cuts name the others' lines, so that their words say what is known, not one guess)."""
        for k in found:
            own = self._prints[k][3]  # escapes at its own line (a loop) say nothing of another line
            others = tuple(dict.fromkeys(self._prints[j][3] for j in found if self._prints[j][3] != own))
            for i in self._prints[k][2]:
                cut = self.cap.cuts[i]
                if others:
                    cut.maybe = tuple(dict.fromkeys((*cut.maybe, *others)))
                else:
                    cut.surely = True


def _same_sample(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Two fingerprints' samples hold the same values (an exact copy came back): never for empty ones."""
    return bool(a) and len(a) == len(b) and _alike(list(a), b)


def _torch_owned(t: torch.Tensor) -> bool:
    """Whether torch's allocator made ``t``'s memory (a target tensor loaded before the trace, a buffer):
    then it is not values come back from numpy, whose arrays torch.from_numpy shares (a storage torch
    cannot resize)."""
    try:
        return bool(t.untyped_storage().resizable())
    except (RuntimeError, NotImplementedError):  # no storage to ask (a subclass, a sparse tensor)
        return False


def _fingerprint(t: torch.Tensor) -> tuple[tuple[int, ...], tuple[float, ...]] | None:
    """Shape and up to 8 evenly spread elements, as doubles (float32 values read back exactly): enough to
    know an escaped tensor's values when they come back. The sample is () for values too plain to tell
    apart (only 0, 1 or -1): only the shape is compared then. None for no float values."""
    if not (t.is_floating_point() and t.numel()) or t.layout != torch.strided or t.device.type == "meta":
        return None
    flat = t.detach().reshape(-1)
    sample = tuple(flat[:: max(1, flat.numel() // 8)][:8].double().cpu().tolist())
    if len(set(sample)) < 2 and sample[0] in (0.0, 1.0, -1.0):
        sample = ()  # a tensor of zeros or ones: any constant of that shape would pass for it
    return tuple(t.shape), sample


def _numbers(data: object, limit: int = 1 << 20) -> list[float]:
    """The numbers in a Python number, nested lists/tuples of numbers, or a numpy array (as floats, in
    order), for ``_came_back``; [] for anything else (tensors among them are followed by their lineage)."""
    if type(data) is float:
        return [data]
    if isinstance(data, (list, tuple)):
        out: list[float] = []
        stack = [iter(data)]
        while stack:
            x = next(stack[-1], _END)
            if x is _END:
                stack.pop()
            elif isinstance(x, (list, tuple)):
                stack.append(iter(x))
            elif isinstance(x, (float, int)) and len(out) < limit:
                out.append(float(x))
            else:
                return []
        return out
    if getattr(data, "__array_interface__", None) is not None and getattr(data, "size", limit + 1) <= limit:
        return [float(x) for x in data.ravel().tolist()]  # type: ignore[attr-defined]  # a numpy array
    return []


_END = object()


def _alike(a: Sequence[float], b: Sequence[float]) -> bool:
    """Equal element by element, a NaN equal to a NaN (a NaN that left torch comes back a NaN)."""
    return len(a) == len(b) and all(x == y or (x != x and y != y) for x, y in zip(a, b, strict=True))


def _among(x: float, values: list[float]) -> bool:
    return any(v != v for v in values) if x != x else x in values
