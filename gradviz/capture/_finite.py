"""Where a NaN or Inf is born in the forward: a cheap check of each op's output, and the rare path that
names the op that made a non-finite value out of finite inputs.

# NOTE [finite checks]
# For each op that can turn finite inputs into NaN/Inf, one sum of each floating output: a NaN or Inf
# anywhere makes the sum non-finite, and a sum that overflowed from finite values is re-checked exactly.
# "Can" depends on the precision: in half precision every op but views, copies and bounded functions
# (FINITE_SAFE, in _nan_ops) can overflow; in float32/64 only RISKY ops can at ordinary magnitudes (a
# linear layer must meet values beyond ~1e19 to overflow: a NaN that comes from such an exploding
# forward is traced back to the op that made the first Inf, see _upstream). Inputs from outside the
# targets' lineage (the batch, buffers) are summed once, at their first use. On the CPU the sum is read at
# once (there is no device to wait for); elsewhere the sums are kept and read at the next backward or at
# the end, so no op waits for its device. Only a non-finite sum starts the rare path, which looks at the
# op's inputs:
#   - output has NaN, no input has NaN (or: output has Inf, every input is finite): the op is a birthplace;
#   - an input carries a value born earlier (a *taint*, followed by tensor identity like lineage): inherited;
#   - an input is non-finite but untainted: it came from outside the traced code (the data, a parameter).
# Once something is tainted, every op also looks its inputs up (a dict lookup each), so an op that takes a
# tainted value and hides it (torch.where, masked_fill) is known: its backward still multiplies by it.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np
import torch

from gradviz.capture._nan_ops import MASK_TAKERS, MASKS, RISKY, describe
from gradviz.records import Birth, Capture, Site

_Tensor = torch.Tensor
_ref = weakref.ref
_set_grad = torch._C._set_grad_enabled
_grad_on = torch.is_grad_enabled
_HALF = (torch.float16, torch.bfloat16)
_FLOATS = frozenset({torch.float32, torch.float64, torch.float16, torch.bfloat16})


class FiniteWatch:
    """Per-op finite checks and the births they find (see NOTE [finite checks])."""

    __slots__ = (
        "births",
        "cap",
        "numbers",
        "op_sites",
        "op_taint",
        "pending",
        "producer",
        "tainted",
        "targets",
    )

    def __init__(self, cap: Capture, producer=None, op_sites=None, targets=None) -> None:
        self.cap = cap
        # () -> [(name, tensor, first-use op, birth of a NaN/Inf gradient it got)] of the watched tensors
        self.targets = targets or list
        # the op that made a tensor (-1: unknown) and an op's (user line, library line, name): for values that
        # turned non-finite in an op that is not summed (a full-precision linear that overflowed)
        self.producer = producer or (lambda t: -1)
        self.op_sites = op_sites or (lambda i: (None, None, "an op"))
        self.births: list[Birth] = cap.births
        self.tainted: dict[int, tuple[Any, int]] = {}  # id(tensor) -> (weakref, birth index)
        self.op_taint: dict[int, int] = (
            cap.op_taint
        )  # op index -> birth: ops that made or took a tainted value
        self.pending: list[tuple[int, Site | None, str, _Tensor]] = []  # device sums not read yet
        self.numbers: dict[str, int] = {}  # "nan" / "inf" / "-inf" that left torch by .item() -> birth

    # -- hot path ----------------------------------------------------------------------------------------

    def check(self, name, index, args, inputs: list[_Tensor], outputs: list[_Tensor], site, inner, inplace):
        """Sum each floating output; start the rare path if a sum is not finite."""
        tainted = self.tainted
        risky = name in RISKY
        for o in outputs:
            if o.dtype not in _FLOATS or (type(o) is not _Tensor and not isinstance(o, torch.nn.Parameter)):
                continue
            if not risky and o.dtype not in _HALF:
                continue
            device = o.device.type
            if device == "meta":  # no values to check
                continue
            on = _grad_on()
            if on:
                _set_grad(False)
            try:
                s = o.sum(dtype=torch.float32) if o.dtype in _HALF else o.sum()
                if device != "cpu":
                    self.pending.append((index, site, name, s))  # inner line: not kept for these
                    continue
                value = s.item()
            except RuntimeError:  # values that cannot be read here (meta, inside a functorch transform)
                continue
            finally:
                if on:
                    _set_grad(True)
            if value - value != 0:  # NaN or Inf (the cheapest exact test on a float)
                self._nonfinite(name, index, args, inputs, outputs, (site, inner), inplace)
                return
        if tainted:
            self.propagate(index, inputs, outputs)

    @torch.no_grad()
    def check_external(self, name: str, index: int, tensors: list[_Tensor], site) -> None:
        """Inputs from outside the targets' lineage (the batch, buffers), each summed once per trace: a NaN in
        the data is born there, at the first op that reads it, whatever that op is."""
        for t in tensors:
            if t.dtype not in _FLOATS or type(t) is not _Tensor or t.device.type != "cpu":
                continue
            if self._taint_of([t]) >= 0:  # made non-finite by a traced op: born there already
                continue
            try:
                value = t.detach().sum(dtype=torch.float32).item()
            except RuntimeError:
                continue
            if value - value != 0 and not bool(torch.isfinite(t).all()):
                if (
                    name in MASK_TAKERS
                    and not bool(torch.isnan(t).any())
                    and not bool(torch.isposinf(t).any())
                ):
                    continue  # a mask of -inf given to an op that reads it as one (attention): not a birth
                born = self._same_memory(t)
                if born < 0:
                    born = self._gradient_of_target(t)
                if born < 0:
                    kind = "nan" if bool(torch.isnan(t).any()) else "inf"
                    born = self._birth(kind, name, index, site, "an input already held NaN/Inf", outside=True)
                self.tainted[id(t)] = (_ref(t), born)

    def _gradient_of_target(self, t: _Tensor) -> int:
        """The birth of the NaN/Inf gradient ``t`` is (an optimizer step reading ``p.grad``): -1 if none."""
        for _, tensor, _, got in self.targets():
            if got >= 0 and (tensor.is_leaf or tensor.retains_grad) and tensor.grad is t:  # (non-leaf: warns)
                return got
        return -1

    def _same_memory(self, t: _Tensor) -> int:
        """The birth of a tainted tensor whose memory ``t`` shares: a value that left torch without a copy
        (``h.numpy()``) and came back as a new tensor over that memory (``torch.from_numpy``); -1: none."""
        try:
            ptr = t.untyped_storage().data_ptr()
        except (RuntimeError, NotImplementedError):
            return -1
        for ref, born in list(self.tainted.values()):
            other = ref()
            if other is not None and other.device == t.device:
                try:
                    if other.untyped_storage().data_ptr() == ptr:
                        return born
                except (RuntimeError, NotImplementedError):
                    continue
        return -1

    @torch.no_grad()  # nothing here may save a tensor for backward (a checkpoint counts what is saved)
    def propagate(self, index: int, inputs: list[_Tensor], outputs: list[_Tensor]) -> None:
        """An op that was not summed (a view, a copy) or whose outputs are finite: pass taints on to its
        outputs if they are non-finite views of a tainted value; note the op took a tainted value."""
        born = self._taint_of(inputs)
        if born < 0:
            return
        self.op_taint.setdefault(index, born)
        birth = self.births[born]
        for o in outputs:
            if o.dtype in _FLOATS and not bool(torch.isfinite(o).all()):
                self.tainted[id(o)] = (_ref(o), born)
            elif birth.masked_by < 0:
                birth.masked_by = index  # e.g. torch.where took the NaN and returned finite values

    # -- rare path ---------------------------------------------------------------------------------------

    def _taint_of(self, inputs: list[_Tensor]) -> int:
        for t in inputs:
            hit = self.tainted.get(id(t))
            if hit is not None and hit[0]() is t:
                return hit[1]
        return -1

    @torch.no_grad()  # as propagate: the rare path must not add to what the user's forward saves
    def _nonfinite(self, name, index, args, inputs, outputs, site, inplace=False) -> None:
        _set_grad_was = _grad_on()
        _set_grad(False)
        try:
            self._classify(name, index, args, inputs, outputs, site, inplace)
        finally:
            _set_grad(_set_grad_was)

    def _classify(self, name, index, args, inputs, outputs, site, inplace=False) -> None:
        bad = [o for o in outputs if o.dtype in _FLOATS and not bool(torch.isfinite(o).all())]
        nan = [bool(torch.isnan(o).any()) for o in bad]
        inherited = self._taint_of(inputs)
        if name in MASKS and not any(nan):
            if inherited >= 0:  # the Inf came in (torch.tensor of a list of tainted values): the same Inf
                for o in bad:
                    self.tainted[id(o)] = (_ref(o), inherited)
                self.op_taint.setdefault(index, inherited)
            return  # an Inf written on purpose (a -inf mask, or a mask added to scores): not a birth
        # an in-place op's own tensor no longer holds its old values: only its taint tells about them
        values = [t for t in inputs if not any(t is o for o in outputs)] if inplace else inputs
        floats = [t for t in values if t.dtype in _FLOATS or t.is_complex()]
        in_nan = any(bool(torch.isnan(t).any()) for t in floats)
        in_bad = in_nan or any(not bool(torch.isfinite(t).all()) for t in floats)
        for o, has_nan in zip(bad, nan, strict=True):  # (a finite output: an overflowing sum, or another one)
            kind = "nan" if has_nan else "inf"
            if (
                has_nan
                and not in_nan
                and inherited < 0
                and any(bool(torch.isposinf(t).any()) for t in floats)
            ):
                # NaN from a +Inf that nobody recorded: an op that is not summed overflowed (a -Inf alone is
                # a mask, and a softmax over a row of only -Inf is where that NaN is born)
                born = self._upstream("inf", values, name, index, site)
            elif (has_nan and not in_nan and inherited < 0) or (not has_nan and not in_bad):
                born = self._birth(kind, name, index, site, describe(name, args, floats))
            elif inherited >= 0:  # a NaN made of an Inf born earlier (inf - inf in a mean): that birth
                born = inherited
            else:
                born = self._upstream(kind, values, name, index, site)
            self.tainted[id(o)] = (_ref(o), born)
            self.op_taint.setdefault(index, born)

    def escaped(self, t: _Tensor, value: object) -> None:
        """``t`` left torch as ``value`` (``.item()``, ``.tolist()``, ``.numpy()``): if it carried a recorded
        NaN/Inf, a non-finite number coming back into an op (``torch.full(shape, v)``, ``torch.tensor(list)``,
        ``torch.from_numpy(a)``) is that one, not a new birth."""
        born = self._taint_of([t])
        if born >= 0:
            for key in _nonfinite_keys(value):
                self.numbers[key] = born

    @torch.no_grad()
    def taint_if_nonfinite(self, t: _Tensor, born: int) -> None:
        """``t`` is a value that left torch holding birth ``born``'s NaN/Inf and came back (from numpy)."""
        if t.dtype in _FLOATS and not bool(torch.isfinite(t).all()):
            self.tainted[id(t)] = (_ref(t), born)

    @torch.no_grad()
    def numbers_back(self, index: int, args: tuple, kwargs: dict, outputs: list[_Tensor]) -> bool:
        """An op given a non-finite number that left torch carrying a recorded NaN/Inf (``torch.full(shape,
        h.mean().item())``): its non-finite outputs carry that birth, not a new one."""
        for a in (*args, *kwargs.values()):
            for key in _nonfinite_keys(a):
                born = self.numbers.get(key, -1)
                if born >= 0:
                    for o in outputs:
                        if o.dtype in _FLOATS and not bool(torch.isfinite(o).all()):
                            self.tainted[id(o)] = (_ref(o), born)
                    self.op_taint.setdefault(index, born)
                    return True
        return False

    def _upstream(self, kind: str, inputs: list[_Tensor], name: str, index: int, site) -> int:
        """A non-finite input nobody recorded a birth for: made by an op inside the trace that is not summed
        (a full-precision op that overflowed: the forward is exploding), or received from outside."""
        for param_name, tensor, first_use, got in self.targets():  # a parameter spoiled by an earlier step
            if 0 <= first_use <= index and tensor.dtype in _FLOATS and not bool(torch.isfinite(tensor).all()):
                if 0 <= got < len(self.births):  # a step in this trace wrote into it the NaN gradient it got
                    return got
                user, library, _ = self.op_sites(first_use)
                detail = f"the parameter {param_name} already held NaN/Inf (an earlier update spoiled it)"
                kind = "nan" if bool(torch.isnan(tensor).any()) else "inf"
                return self._birth(kind, name, first_use, (user, library), detail, outside=True)
        for t in inputs:
            if t.dtype in _FLOATS and not bool(torch.isfinite(t).all()):
                made = self.producer(t)
                if made >= 0:
                    user, library, op = self.op_sites(made)
                    detail = "by overflow: values grew beyond the dtype's range (the forward is exploding)"
                    return self._birth(kind, op, made, (user, library), detail)
        return self._birth(kind, name, index, site, "an input already held NaN/Inf", outside=True)

    def _birth(self, kind: str, name: str, index: int, sites, detail: str, outside: bool = False) -> int:
        site, inner = sites if isinstance(sites, tuple) else (sites, None)
        phase = "input" if outside else "forward"
        birth = Birth(kind, phase, index, name, None, site, detail=detail, op_site=inner)
        self.births.append(birth)
        return len(self.births) - 1

    def settle(self) -> None:
        """Read the sums kept on a device (one copy per device); the first non-finite op is a birth (its
        inputs can no longer be inspected, so inherited and outside values are not told apart)."""
        pending, self.pending = self.pending, []
        if not pending or self.births:
            return
        values = torch.stack([s.double().cpu() for *_, s in pending]).tolist()
        for (index, site, name, _), value in zip(pending, values, strict=True):
            if not math.isfinite(value):
                kind = "nan" if math.isnan(value) else "inf"
                self._birth(kind, name, index, site, "the first op whose output was not finite")
                self.op_taint.setdefault(index, 0)
                return

    def clear(self) -> None:
        self.tainted.clear()
        self.pending.clear()


def _number_key(value: float) -> str:
    return "nan" if value != value else ("inf" if value > 0 else "-inf")


_KEYS_SEEN = 100_000  # numbers looked at in a list that left or came back (a NaN is found long before)


def _nonfinite_keys(value: object) -> set[str]:
    """The kinds of non-finite number ("nan", "inf", "-inf") in a value outside torch: a float, a (nested)
    list or tuple of them as ``.tolist()`` makes, or a numpy array. Looked at only while a NaN/Inf born in
    the trace is on its way (see ``FiniteWatch.numbers``)."""
    if type(value) is float:
        return {_number_key(value)} if value - value != 0 else set()
    if isinstance(value, np.ndarray):
        if value.dtype.kind != "f":
            return set()
        kinds = {"nan"} if bool(np.isnan(value).any()) else set()
        if bool(np.isposinf(value).any()):
            kinds.add("inf")
        if bool(np.isneginf(value).any()):
            kinds.add("-inf")
        return kinds
    if not isinstance(value, (list, tuple)):
        return set()
    keys: set[str] = set()
    stack, seen = [value], 0
    while stack and seen < _KEYS_SEEN and len(keys) < 3:
        for v in stack.pop():
            seen += 1
            if type(v) is float:
                if v - v != 0:
                    keys.add(_number_key(v))
            elif isinstance(v, (list, tuple)):
                stack.append(v)
    return keys
