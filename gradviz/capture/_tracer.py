"""The forward tracer: a TorchFunctionMode that records ops, lineage, cuts, in-place ops and errors.

Per call it costs a few microseconds: one dict lookup per tensor argument, a cached frame walk for the
user's line, and one entry per result. The rare paths (gradients off, in-place, escapes, errors) do more.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from gradviz.capture import _frames
from gradviz.capture._backward_marks import BackwardMarks
from gradviz.capture._cuts import Cuts
from gradviz.capture._errors import classify_forward_error
from gradviz.capture._escapes import Escapes
from gradviz.capture._failsafe import FailSafe
from gradviz.capture._finite import FiniteWatch
from gradviz.capture._lineage import Lineage, merge, tensors_in, tensors_out
from gradviz.capture._nan_ops import FINITE_SAFE, RISKY
from gradviz.capture._norms import FULL_PRECISION
from gradviz.capture._oplog import OpLog
from gradviz.capture._ops import Kind, classify
from gradviz.capture._shadow import Shadows, cut_key_of, union
from gradviz.capture._unseen import OutOfSight
from gradviz.capture._writes import Writes, versions
from gradviz.records import Capture, Cause, Clear, Site

_is_grad_enabled = torch.is_grad_enabled
_ref = weakref.ref
_next_node_nr = torch._C._autograd._get_sequence_nr
_SITES = _frames.SITES
_CALLER = _frames.CALLER
_is_inference = torch.is_inference_mode_enabled
# NOTE [invisible to torch.compile]
# While dynamo compiles, everything gradviz runs in the user's step (this mode, the module hooks) must be
# a no-op it can read through: dynamo constant-folds is_compiling() to True, so these functions trace to
# nothing, add no graph break and no guard on gradviz's state, and the compiled program is the one the
# user runs untraced. At run time the compiled region executes as one unit: the tracer sees its call and
# its outputs, not the ops inside (like TorchScript), and what reaches the loss is read from the autograd
# graph its outputs carry.
_is_compiling = torch.compiler.is_compiling
_PENDING = object()  # the op has not been called yet
_RUNNING = object()  # the op is running: an exception now is the user's own

_Parameter = torch.nn.Parameter

# func -> (name, kind): a pure function of the callable, shared by every trace of the process
_KINDS: dict[Any, tuple[str, Kind]] = {}


class Tracer(Cuts, Escapes, OutOfSight, Writes, TorchFunctionMode):
    """Records what the user's forward did while active. Owned and entered by a capture session."""

    def __init__(
        self,
        capture: Capture,
        lineage: Lineage,
        on_backward: Callable[[Any, str, tuple, dict, Site | None], Any],
        marks: BackwardMarks,
        failsafe: FailSafe,
        on_leaf: Callable[[torch.Tensor, Site | None], int] | None = None,
        on_param: Callable[[torch.Tensor], bool] | None = None,
        check_finite: bool = True,
        targets: Callable[[], list[tuple[str, torch.Tensor, int, int]]] | None = None,
    ) -> None:
        super().__init__()
        self.cap = capture
        self.lineage = lineage
        self.modules: list[str] = []  # module path stack, pushed/popped by the session's module hooks
        # per running module: the user's line that called it, or the enclosing one's (0: none known)
        self.callers: list[int] = []
        self.marks = marks  # what the backwards so far left: their roots, the targets' .grad objects
        self.failsafe = failsafe
        self.ran: Any = _PENDING  # the current op: not called yet, running, or its result
        self._on_backward = on_backward
        self._on_leaf = on_leaf  # trace() with nothing to watch: adopt leaves requiring grad
        # a Parameter the model swapped in for a watched one (FSDP2 unshards into new Parameters)
        self._on_param = on_param
        self._strangers: set[int] = set()  # ids of Parameters already found not to stand in for a target
        self._kinds = _KINDS
        self._grad_off: tuple[Site | None, Site | None] = (None, None)  # (user line, library line)
        self.shadows = Shadows(self.cap, lineage)  # NOTE [what would learn without a cut]
        self._used = 0
        self.log = OpLog()  # every recorded call, by column; Capture.ops from the start (backwards read it)
        capture.ops = self.log
        self.finite: FiniteWatch | None = (
            FiniteWatch(capture, self._producer, self._op_sites, targets) if check_finite else None
        )
        self._start_seq = _next_node_nr()  # nodes numbered below this were made before the trace
        # tensors already looked at, by id with a weak reference: a freed tensor's id is soon another's
        self._carried: dict[int, Any] = {}  # tensors with a graph from out of sight, already recorded
        self._external: dict[int, Any] = {}  # inputs from outside the lineage, already checked
        # what left torch so far: (fingerprint, targets its value depends on, cuts on its lineage)
        self._prints: list[
            tuple[tuple[tuple[int, ...], tuple[float, ...]], int, tuple[int, ...], Site | None]
        ] = []
        self._print_births: dict[int, int] = {}  # print index -> birth of the NaN/Inf the escaped value held
        # the very Python objects .item() / .tolist() gave (held, so their ids stay theirs) -> print index
        self._print_objects: dict[int, tuple[object, int]] = {}
        self._served: dict[int, tuple[Any, int, Cause, str]] = {}  # see Escapes._used_again
        self._back_birth = -1  # the current op's: a NaN/Inf in escaped values its data brings back
        # cut index -> the node number of the autograd.Function (or reentrant checkpoint) whose forward made
        # it: that Function's node, once linked into a tensor's graph, shows the cut was not real
        self._function_of_cut: dict[int, int] = {}

    # -- dispatch ------------------------------------------------------------------------------------

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if _is_compiling():  # NOTE [invisible to torch.compile]: first, before reading any state of ours
            return func(*args, **(kwargs or {}))
        if kwargs is None:
            kwargs = {}
        if self.failsafe.error is not None:
            return func(*args, **kwargs)
        self.ran = _PENDING
        try:
            return self._dispatch(func, args, kwargs)
        except Exception as exc:  # NOTE [fail-safe]
            ran = self.ran
            if ran is _RUNNING:
                raise  # the op itself raised: the user's error (recorded on the way out)
            self.failsafe.fail(exc, "forward tracer")
            return func(*args, **kwargs) if ran is _PENDING else ran

    def run(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """Call the user's op, marking it running (see ``__torch_function__``)."""
        self.ran = _RUNNING
        out = func(*args, **kwargs)
        self.ran = out
        return out

    def _dispatch(self, func: Any, args: tuple, kwargs: dict) -> Any:
        info = self._kinds.get(func)
        if info is None:
            info = self._kinds[func] = classify(func)
        name, kind = info
        if kind is Kind.SKIP:
            return self.run(func, args, kwargs)
        if kind is Kind.BACKWARD:
            return self._on_backward(func, name, args, kwargs, _frames.user_site())
        if kind is Kind.GRAD_SET:  # p.grad = ...: a clear when set to None; never a use of p
            self._grad_set(args)
            return self.run(func, args, kwargs)
        if kind is Kind.GRAD_MODE:
            if args and not args[0]:
                self._grad_off = _frames.user_sites()
                if self.shadows.removing is not None and self.shadows.keeps_grad_on(self._grad_off[0]):
                    return None  # a what-if re-run: that no_grad is removed (gradients stay on)
            return self.run(func, args, kwargs)
        return self._op(func, name, kind, args, kwargs)

    # -- ordinary ops ----------------------------------------------------------------------------------

    def _op(self, func, name: str, kind: Kind, args: tuple, kwargs: dict):
        # NOTE [hot path] runs for every torch call of the forward: keep it to dict lookups, int ops and
        # appends of atoms to the columnar log (see NOTE [no tracked survivors] in _oplog.py).
        lineage = self.lineage
        entries = lineage.entries
        inputs = tensors_in(args, kwargs) if kind is not Kind.FACTORY else []
        values = grads = 0
        cuts: tuple[int, ...] = ()
        shadow = _NO_SHADOW
        shadows = lineage.shadows
        external = None  # inputs from outside the targets' lineage (data, buffers) not seen before
        for t in inputs:
            entry = entries.get(id(t))
            if entry is not None and entry[0]() is not t:
                entry = None
            if entry is None:
                if self._on_param is not None and isinstance(t, _Parameter) and id(t) not in self._strangers:
                    if not self._on_param(t):
                        self._strangers.add(id(t))
                elif self._on_leaf is not None and t.is_leaf and t.requires_grad:
                    self._on_leaf(t, _frames.user_site())
                elif t.requires_grad and not t.is_leaf and not _seen(self._carried, t):
                    self._maybe_carried(t)
                entry = lineage.get(t)
                if entry is None:
                    if not _seen(self._external, t):
                        self._external[id(t)] = _ref(t)
                        external = [t] if external is None else [*external, t]
                    continue
            _, v, g, c, maker = entry
            if maker < 0 and v and self.marks.freed_at and not self.marks.fresh:
                self.marks.fresh = True  # a target used after a backward freed the graph: a new forward
            if v and not g and t.grad_fn is not None:
                g, c = self._revive(t, v, c)
            # made before a backward that freed its own node: state carried into a new forward
            marks = self.marks
            if (
                0 <= maker < marks.freed_at
                and g
                and not _seen(self._carried, t)
                and (fn := t.grad_fn) is not None
                and fn._sequence_nr() in marks.freed_nodes
            ):
                self._maybe_carried(t, maker)
            values |= v
            grads |= g
            if c:
                cuts = merge(cuts, c) if cuts else c
                if shadows and (held := shadows.get(id(t))) is not None and held[0] is entry:
                    shadow = union(shadow, held[1])
        site_index = _frames.user_site_index(2, self.callers[-1] if self.callers else 0)
        caller_index = _CALLER[0]
        site = _SITES[site_index]
        grad_on = _is_grad_enabled()
        made_by = None
        if self._served and kind is not Kind.ESCAPE:
            self._used_again(inputs)
        if (
            self._prints
            and external is not None
            and not (kind is Kind.OP or (kind is Kind.CREATE and not grads))
        ):  # first seen in a detach, a view, an in-place op: the tensor itself may be an escape come back
            self._came_back(external, (), {})
        if kind is Kind.INPLACE:
            made_by = self._made_by(args)
        elif self._prints and (
            kind is Kind.OP or kind is Kind.FACTORY or (kind is Kind.CREATE and not grads)
        ):
            self._back_birth = -1
            back, back_cuts = self._came_back(external, args, kwargs)
            if back:
                values |= back
                cuts = merge(cuts, back_cuts)
        # NOTE [writes are seen by their versions] An op may write into its inputs whatever its name says:
        # relu(h, inplace=True), dropout(..., inplace), add(a, b, out=a), embedding with max_norm (renorms
        # its weight). Every write bumps the tensor's version counter: that, not a list of names, is what
        # makes a write an in-place op here (0.1 µs per input; ops named in place are handled as such).
        before = versions(inputs) if kind is Kind.OP else None
        seq_start = _next_node_nr()
        if self.shadows.removing is not None and kind in _REMOVABLE:  # a what-if re-run
            done, out = self.shadows.identity(
                kind is not Kind.CREATE,
                args,
                lambda: cut_key_of(self._cause(kind, grad_on, site, caller_index)),
            )
            if done:  # recorded as the op it stands for, with the result of an identity
                func, args, kwargs = _given, (out,), {}
        try:
            out = self.run(func, args, kwargs)
        except Exception as exc:
            if self.cap.error is None:
                try:
                    self.cap.error = classify_forward_error(exc, name, site, inputs, lineage, self.op_site)
                except Exception as internal:  # NOTE [fail-safe]: the user's error goes on unchanged
                    self.failsafe.fail(internal, "error classifier")
            raise
        seq_end = _next_node_nr()
        index = len(self.log)
        if values & ~self._used:
            self._first_use(values & ~self._used, index)
        outputs = tensors_out(out)
        if kind is Kind.INPLACE:
            outputs = self._inplace(name, args, site, made_by, outputs)
        elif before is not None and versions(inputs) != before:
            self._written(name, args, kwargs, inputs, before, site)
        elif kind is Kind.ESCAPE:
            self._escape(name, values, grads, cuts, inputs, site, index, caller_index, out)
            if self.finite is not None and self.finite.tainted and inputs:
                self.finite.escaped(inputs[0], out)
        finite = self.finite
        if (
            finite is not None
            and finite.numbers
            and outputs
            and finite.numbers_back(index, args, kwargs, outputs)
        ):
            finite = None  # its non-finite values came back from an escape: their birth is known
        if finite is not None and self._back_birth >= 0 and kind is Kind.CREATE:
            for o in outputs:  # torch.tensor(values that left torch holding a NaN): the same NaN
                finite.taint_if_nonfinite(o, self._back_birth)
            finite.op_taint.setdefault(index, self._back_birth)
            self._back_birth, finite = -1, None
        if finite is not None and external is not None:
            finite.check_external(name, index, external, _SITES[caller_index] or site)
        if finite is not None and outputs:
            if name in RISKY or (name not in FINITE_SAFE and outputs[0].dtype not in FULL_PRECISION):
                if caller_index:
                    finite.check(
                        name, index, args, inputs, outputs, _SITES[caller_index], site, kind is Kind.INPLACE
                    )
                else:
                    finite.check(name, index, args, inputs, outputs, site, None, kind is Kind.INPLACE)
            elif finite.tainted:
                finite.propagate(index, inputs, outputs)
        lost_cut: tuple[int, ...] = ()
        joins: tuple[int, ...] = ()
        for o in outputs:
            if o.requires_grad:
                if values or cuts:
                    old = entries.get(id(o))
                    if old is None or old[4] != -1:  # targets keep their own lineage
                        entries[id(o)] = (_ref(o), values, grads, cuts, index)
                elif id(o) in entries:
                    lineage.set(o, 0, 0, (), index)
                if cuts and grads:
                    joins = cuts
            else:
                if grads and not lost_cut:
                    cause, how, where, op_site = self._cause(kind, grad_on, site, caller_index)
                    lost_cut = (self._cut(name, cause, how, where, grads, index, op_site),)
                    if kind is Kind.DETACH or kind is Kind.DATA:  # what it was applied to (Cut.source)
                        self.cap.cuts[lost_cut[0]].source = self._producer(inputs[0])
                lineage.set(o, values, 0, merge(cuts, lost_cut) if lost_cut else cuts, index)
        if shadow or lost_cut:
            self.shadows.op(
                index,
                name,
                outputs,
                grads,
                shadow,
                lost_cut[0] if lost_cut else -1,
                grad_on and kind in _PASSING and bool(outputs) and outputs[0].is_floating_point(),
                lambda: self._cause(kind, grad_on, site, caller_index),
            )
        if not (values or cuts) and kind is not Kind.CREATE:
            # made by a traced op from none of the targets: never an escaped value coming back (NOTE [escaped
            # means it came back]), even if made before the escape and used after it. torch.tensor(list)
            # may be one (linked by its numbers); from_numpy never passes the tracer: it stays external.
            for o in outputs:
                self._external[id(o)] = _ref(o)
        self.log.append(
            name,
            self.modules[-1] if self.modules else "",
            site_index,
            caller_index,
            grad_on,
            not grad_on and _is_inference(),
            inputs,
            outputs,
            joins,
            (seq_start, seq_end),
        )
        return out

    def _producer(self, t: torch.Tensor) -> int:
        entry = self.lineage.get(t)
        return entry[4] if entry is not None else -1

    def _op_sites(self, index: int) -> tuple[Site | None, Site | None, str]:
        """(user line, library line or None, name) of a recorded op."""
        site, user = self.log.site(index), self.log.user_site(index)
        return (user, site if user is not site else None, self.log.name(index))

    def op_site(self, index: int) -> Site | None:
        return self.log.site(index)

    def op_of_node(self, sequence_nr: int) -> int:
        return self.log.op_of_node(sequence_nr)

    def finish(self) -> None:
        """Hand the log over as the capture's ops (plain data; Op records are built on access); let go of
        the user's values held to follow escapes."""
        self.cap.ops = self.log
        self._print_objects.clear()

    # -- rare kinds ------------------------------------------------------------------------------------

    def _grad_set(self, args: tuple) -> None:
        """``t.grad = value`` on a target: a clear if None; else where a zero .grad may have come from."""
        if len(args) < 2:
            return
        index = self.lineage.targets.get(id(args[0]))
        if index is not None and self.lineage.is_target(args[0]):
            how = "set to None" if args[1] is None else "written by assigning .grad"
            self.cap.clears.append(Clear(targets=1 << index, site=_frames.user_site(3), how=how))

    def _first_use(self, new: int, index: int) -> None:
        self._used |= new
        targets = self.cap.targets
        while new:  # the set bits only (a model has many targets; an op first uses a few)
            low = new & -new
            targets[low.bit_length() - 1].first_use = index
            new ^= low


_REMOVABLE = (Kind.DETACH, Kind.DATA, Kind.CREATE)  # cuts a what-if re-run can run as identities


def _given(value: Any) -> Any:
    return value


_NO_SHADOW: dict[int, int] = {}  # shared and never written (shadows are replaced, not updated)
_PASSING = (Kind.OP, Kind.INPLACE)  # kinds whose floating results carry a gradient when their inputs do


def _seen(seen: dict[int, Any], t: torch.Tensor) -> bool:
    """Whether ``t`` itself (not an earlier tensor whose freed id it reuses) is in ``seen``."""
    ref = seen.get(id(t))
    return ref is not None and ref() is t


# the functions that call the user's op: a warning raised inside the op lands above them
# (NOTE [warnings at the user's line] in _user_warnings.py)
OP_CALLERS = (Tracer.run.__code__, Tracer.__torch_function__.__code__)
