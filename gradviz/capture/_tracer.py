"""The forward tracer: a TorchFunctionMode that records ops, lineage, cuts, in-place ops and errors.

Per call it costs a few microseconds: one dict lookup per tensor argument, a cached frame walk for the
user's line, and one entry per result. The rare paths (gradients off, in-place, escapes, errors) do more.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from gradviz.capture import _frames
from gradviz.capture._backward import BackwardMarks
from gradviz.capture._errors import classify_forward_error
from gradviz.capture._failsafe import FailSafe
from gradviz.capture._finite import FINITE_SAFE, RISKY, FiniteWatch
from gradviz.capture._lineage import Lineage, merge, tensors_in, tensors_out
from gradviz.capture._norms import FULL_PRECISION
from gradviz.capture._oplog import OpLog
from gradviz.capture._ops import Kind, classify
from gradviz.records import Capture, Carried, Cause, Clear, Cut, CutHow, Inplace, Site

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
_UNSEEN_LIMIT = 20_000  # autograd nodes walked for a tensor made out of sight (deep chains: see _graph.py)
_Parameter = torch.nn.Parameter
# functional ops whose in-place switch is a positional argument (nn.Dropout calls F.dropout(x, p, training,
# inplace)): only for naming the write in messages, never for detecting it
_INPLACE_FLAG = frozenset(
    {
        "dropout",
        "alpha_dropout",
        "feature_alpha_dropout",
        "dropout1d",
        "dropout2d",
        "dropout3d",
        "threshold",
        "relu",
        "elu",
        "selu",
        "celu",
        "leaky_relu",
        "hardtanh",
        "rrelu",
        "relu6",
        "silu",
        "mish",
        "hardswish",
        "hardsigmoid",
    }
)
# func -> (name, kind): a pure function of the callable, shared by every trace of the process
_KINDS: dict[Any, tuple[str, Kind]] = {}


class Tracer(TorchFunctionMode):
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
        targets: Callable[[], list[tuple[str, torch.Tensor, int]]] | None = None,
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
        self._prints: list[tuple[tuple[tuple[int, ...], tuple[float, ...]], int, tuple[int, ...]]] = []
        self._print_births: dict[int, int] = {}  # print index -> birth of the NaN/Inf the escaped value held
        self._back_birth = -1  # the current op's: a NaN/Inf in escaped values its data brings back

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
        site_index = _frames.user_site_index(2, self.callers[-1] if self.callers else 0)
        caller_index = _CALLER[0]
        site = _SITES[site_index]
        grad_on = _is_grad_enabled()
        made_by = None
        if kind is Kind.INPLACE:
            made_by = self._made_by(args)
        elif self._prints and (kind is Kind.OP or (kind is Kind.CREATE and not grads)):
            self._back_birth = -1
            back, back_cuts = self._came_back(external, args, kwargs)
            if back:
                values |= back
                cuts = merge(cuts, back_cuts)
        # NOTE [writes are seen by their versions] An op may write into its inputs whatever its name says:
        # relu(h, inplace=True), dropout(..., inplace), add(a, b, out=a), embedding with max_norm (renorms
        # its weight). Every write bumps the tensor's version counter: that, not a list of names, is what
        # makes a write an in-place op here (0.1 µs per input; ops named in place are handled as such).
        versions = _versions(inputs) if kind is Kind.OP else None
        seq_start = _next_node_nr()
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
        elif versions is not None and _versions(inputs) != versions:
            self._written(name, args, kwargs, inputs, versions, site)
        elif kind is Kind.ESCAPE:
            self._escape(name, values, grads, cuts, inputs, site, index, caller_index)
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
                lineage.set(o, values, 0, merge(cuts, lost_cut) if lost_cut else cuts, index)
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

    def opaque_output(self, module: Any, targets: int, args: Any, output: Any) -> None:
        """A TorchScript module returned ``output``: the tracer saw none of the ops inside it. Its outputs
        depend on what its inputs depend on and on the parameters it holds (``targets``), through autograd
        where they require grad. Module hooks run inside the mode: no torch op here."""
        values = targets
        grads = 0
        cuts: tuple[int, ...] = ()
        ins = tensors_in(args if isinstance(args, tuple) else (args,), {})
        if self.finite is not None and self.finite.tainted:  # a NaN that went in comes out from there
            self.finite.propagate(max(len(self.log) - 1, 0), ins, tensors_out(output))
        for t in ins:
            entry = self.lineage.get(t)
            if entry is not None:
                values |= entry[1]
                grads |= entry[2]
                cuts = merge(cuts, entry[3])
        index = max(len(self.log) - 1, 0)  # never -1, which marks a target's own entry
        if targets & ~self._used:
            self._first_use(targets & ~self._used, index)
        site = None
        for target in self.cap.targets:  # where its output is seen: the call of the TorchScript module
            if targets >> target.index & 1 and target.opaque_site is None:
                site = site or _frames.user_site()
                target.opaque_site = site
        outs = tensors_out(output)
        if grads | targets and outs and not any(o.requires_grad for o in outs):
            # what went in had gradients and nothing comes out with one: cut inside, where no op is seen
            call = _frames.user_site()
            lost = self._cut(
                type(module).__name__, Cause.non_differentiable, CutHow.hidden, call, grads | targets, index
            )
            cuts = merge(cuts, (lost,))
        for o in outs:
            self.lineage.set(o, values, (grads | targets) if o.requires_grad else 0, cuts, index)

    def returned_gradients(
        self, roots: list[torch.Tensor], grads: list[torch.Tensor], graph: bool, site: Site | None
    ) -> None:
        """autograd.grad returned ``grads``: their values depend on what the roots depend on, and only with
        ``create_graph=True`` do they carry a graph back to it. Without it, a loss computed from them
        (a gradient penalty) reaches none of those parameters through them: that call is the cut."""
        if self.finite is not None and self.finite.tainted:  # a NaN loss gives NaN gradients: the same NaN
            self.finite.propagate(max(len(self.log) - 1, 0), roots, grads)
        values = grads_bits = 0
        cuts: tuple[int, ...] = ()
        for r in roots:
            entry = self.lineage.get(r)
            if entry is not None:
                values |= entry[1]
                grads_bits |= entry[2]
                cuts = merge(cuts, entry[3])
        if not values:
            return
        if not graph and grads_bits:
            index = len(self.log) - 1
            lost = self._cut(
                "autograd.grad", Cause.no_grad, CutHow.grad_without_graph, site, grads_bits, index
            )
            cuts, grads_bits = merge(cuts, (lost,)), 0
        for g in grads:
            self.lineage.set(g, values, grads_bits if g.requires_grad else 0, cuts, len(self.log) - 1)

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
        """Hand the log over as the capture's ops (plain data; Op records are built on access)."""
        self.cap.ops = self.log

    def _cause(
        self, kind: Kind, grad_on: bool, site: Site | None, caller_index: int
    ) -> tuple[Cause, CutHow, Site | None, Site | None]:
        """(cause, how, where, op_site) of a result that lost its gradient path at this op. ``where`` is
        the user's line; ``op_site`` the op's own line when that is another (a library line, a line inside
        a no_grad block)."""
        where, op_site = (_SITES[caller_index], site) if caller_index else (site, None)
        if kind is Kind.DETACH:
            return Cause.detach, CutHow.op, where, op_site
        if kind is Kind.DATA:
            return Cause.data, CutHow.op, where, op_site
        if kind is Kind.ESCAPE:
            return Cause.escaped, CutHow.op, where, op_site
        if kind is Kind.CREATE:  # torch.tensor([t1, t2]): values copied into a new tensor with no history
            return Cause.escaped, CutHow.rebuilt, where, op_site
        if grad_on:
            return Cause.non_differentiable, CutHow.op, where, op_site
        # Deep stack walks are fine here: ops with gradients off are rare in a forward.
        checkpoint = _frames.checkpoint_site(4)
        if checkpoint is not None:
            return Cause.checkpoint, CutHow.reentrant, checkpoint[0], checkpoint[1] or site
        function = _frames.function_site(4)
        if function is not None:  # inside autograd.Function.forward: retracted if apply() links it
            # apply() made the Function's node (its ctx) just before running forward, which makes no
            # nodes of its own (gradients are off): that node's number is the counter's last value
            if function[0] is not None:  # no user line above apply(): nothing to record (get() gives None)
                self.cap.functions.setdefault(_next_node_nr() - 1, function[0])
            return Cause.no_grad, CutHow.in_function, where, op_site
        if _is_inference():
            return Cause.no_grad, CutHow.inference_mode, where, op_site
        off = self._grad_off[0]
        if off is None:
            return Cause.no_grad, CutHow.op, where, op_site
        return Cause.no_grad, CutHow.grad_switch, off, op_site or site

    def _cut(
        self,
        name: str,
        cause: Cause,
        how: CutHow,
        site: Site | None,
        lost: int,
        index: int,
        op_site: Site | None = None,
    ) -> int:
        cut = Cut(
            index=len(self.cap.cuts),
            kind=cause,
            op=name,
            lost=lost,
            site=site,
            module=self.modules[-1] if self.modules else "",
            how=how,
            op_index=index,
            op_site=op_site,
        )
        self.cap.cuts.append(cut)
        return cut.index

    def _maybe_carried(self, t: torch.Tensor, made_by: int = -1) -> None:
        """A tensor with autograd history from before the trace, or made before a backward that freed its
        graph (``made_by``: the op that made it): state carried across steps."""
        self._carried[id(t)] = _ref(t)
        fn = t.grad_fn
        if fn is None:
            return
        if made_by >= 0 or fn._sequence_nr() < self._start_seq:
            self.cap.carried.append(
                Carried(
                    op=len(self.log),
                    site=_frames.user_site(),
                    shape=tuple(t.shape),
                    made_by=type(fn).__name__,
                )
            )
        else:
            self._unseen(t, fn)

    def _unseen(self, t: torch.Tensor, fn: Any) -> None:
        """A tensor with a graph, made during the trace by code the tracer did not see (a torch.compile'd
        region, an op of a C++ extension): the targets its graph reaches through autograd are what its value
        is known to depend on (see NOTE [invisible to torch.compile]). A walk past ``_UNSEEN_LIMIT`` nodes
        stops there: what it did not see is not claimed."""
        index_of = self.lineage.targets
        bits = 0
        seen: set[int] = set()
        stack = [fn]
        while stack and len(seen) < _UNSEEN_LIMIT:
            node = stack.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            variable = getattr(node, "variable", None)
            if variable is not None:
                index = index_of.get(id(variable))
                if index is not None:
                    bits |= 1 << index
                continue
            stack.extend(child for child, _ in node.next_functions)
        if bits:
            self.lineage.set(t, bits, bits, (), max(len(self.log) - 1, 0))
            site = None
            for target in self.cap.targets:
                if bits >> target.index & 1 and target.opaque_how and target.opaque_site is None:
                    site = site or _frames.user_site()
                    target.opaque_site = site

    def _revive(self, t: torch.Tensor, values: int, cuts: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
        """A tensor recorded as cut now has a grad_fn: an autograd.Function (or reentrant checkpoint)
        attached it after its forward ran with gradients off. Its cuts were not real."""
        kept = []
        for i in cuts:
            cut = self.cap.cuts[i]
            if cut.how is CutHow.in_function or cut.kind is Cause.checkpoint:
                cut.retracted = True
            else:
                kept.append(i)
        entry = self.lineage.get(t)
        made_by = entry[4] if entry is not None else -1
        self.lineage.set(t, values, values, tuple(kept), made_by)
        return values, tuple(kept)

    # -- rare kinds ------------------------------------------------------------------------------------

    def _made_by(self, args: tuple) -> str:
        target = args[0] if args else None
        if isinstance(target, torch.Tensor):
            try:
                gfn = target.grad_fn
            except RuntimeError:  # a view made under no_grad whose base changed in place: no history
                return ""
            return type(gfn).__name__ if gfn is not None else ""
        return ""

    def _written(
        self,
        name: str,
        args: tuple,
        kwargs: dict,
        inputs: list[torch.Tensor],
        versions: list[int],
        site: Site | None,
    ) -> None:
        """In-place writes of an op not named as one (see NOTE [writes are seen by their versions])."""
        if "out" in kwargs:
            how = f"{name}(out=...)"
        elif kwargs.get("inplace") is True or (name in _INPLACE_FLAG and True in args[1:]):
            how = f"{name}(inplace=True)"
        else:
            how = f"{name} (which writes into its input)"
        seen: set[int] = set()
        for t, before, after in zip(inputs, versions, _versions(inputs), strict=True):
            if after == before or id(t) in seen:
                continue
            seen.add(id(t))
            entry = self.lineage.get(t)
            made_by = self.log.name(entry[4]) if entry is not None and entry[4] >= 0 else ""
            self.cap.inplace.append(
                Inplace(
                    op=how,
                    site=site,
                    shape=tuple(t.shape),
                    dtype=str(t.dtype).removeprefix("torch."),
                    version=after,
                    made_by=made_by,
                    is_leaf=_is_leaf(t),
                    module=self.modules[-1] if self.modules else "",
                )
            )

    def _inplace(self, name, args, site, made_by, outputs) -> list[torch.Tensor]:
        target = args[0] if args else None
        changed = [target] if isinstance(target, torch.Tensor) else tensors_out(target)
        zeroed = 0
        for t in changed:
            idx = self.marks.grads.get(id(t))
            if idx is not None and name in ("zero_", "_foreach_zero_", "mul_", "fill_"):
                zeroed |= 1 << idx
            self.cap.inplace.append(
                Inplace(
                    op=name,
                    site=site,
                    shape=tuple(t.shape),
                    dtype=str(t.dtype).removeprefix("torch."),
                    version=t._version,
                    made_by=made_by,
                    is_leaf=_is_leaf(t),
                    module=self.modules[-1] if self.modules else "",
                )
            )
        if zeroed:
            self.cap.clears.append(Clear(targets=zeroed, site=site, how="zeroed"))
        return outputs or changed

    def _escape(self, name, values, grads, cuts, inputs, site, index, caller_index=0) -> None:
        if not values or any(self.marks.is_root(t) for t in inputs):
            return  # logging the loss with loss.item() after backward is not an escape from the graph
        for t in inputs:  # `h.detach().numpy()`: the detach only serves the escape; the escape is the cause
            entry = self.lineage.get(t)
            if entry is None or entry[4] < 0:
                continue
            for i in entry[3]:
                cut = self.cap.cuts[i]
                if cut.op_index == entry[4] and cut.kind in (Cause.detach, Cause.data):
                    cut.kind, cut.how, cut.op = Cause.escaped, CutHow.after_detach, name
        if grads:
            where, op_site = (_SITES[caller_index], site) if caller_index else (site, None)
            cuts = merge(cuts, (self._cut(name, Cause.escaped, CutHow.op, where, grads, index, op_site),))
        self.cap.escaped |= values
        self.cap.escape_cuts = merge(self.cap.escape_cuts, cuts)
        if inputs:
            shown = _fingerprint(inputs[0])
            if shown is not None:
                self._prints.append((shown, values, cuts))
                if self.finite is not None:  # a NaN it carried comes back with it (see _came_back)
                    born = self.finite._taint_of([inputs[0]])
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
        # (its values may have gone through numpy: np.tanh(h.numpy())), a number by its value. A number
        # changed in Python before it comes back cannot be followed: the verdict says so.
        """
        values = 0
        cuts: tuple[int, ...] = ()
        for t in external or ():
            if t.requires_grad or not t.is_floating_point() or t.numel() < 2:
                continue
            for k, ((shape, _), v, c) in enumerate(self._prints):
                if shape == tuple(t.shape):
                    values |= v
                    cuts = merge(cuts, c)
                    self.lineage.set(t, v, 0, c, len(self.log))
                    born = self._print_births.get(k, -1)
                    if born >= 0 and self.finite is not None:
                        self.finite.taint_if_nonfinite(t, born)
        for data in (*args, *kwargs.values()):
            flat = _numbers(data)
            if not flat:
                continue
            for k, ((shape, sample), v, c) in enumerate(self._prints):
                numel = math.prod(shape)
                same = bool(sample) and numel == len(flat) and _alike(flat[:: max(1, numel // 8)][:8], sample)
                if same or (
                    len(sample) == 1 and sample[0] not in (0.0, 1.0, -1.0) and _among(sample[0], flat)
                ):
                    values |= v
                    cuts = merge(cuts, c)
                    self._back_birth = self._print_births.get(k, self._back_birth)
        return values, cuts

    def _grad_set(self, args: tuple) -> None:
        if len(args) < 2 or args[1] is not None:
            return
        index = self.lineage.targets.get(id(args[0]))
        if index is not None and self.lineage.is_target(args[0]):
            self.cap.clears.append(Clear(targets=1 << index, site=_frames.user_site(3), how="set to None"))

    def _first_use(self, new: int, index: int) -> None:
        self._used |= new
        targets = self.cap.targets
        while new:  # the set bits only (a model has many targets; an op first uses a few)
            low = new & -new
            targets[low.bit_length() - 1].first_use = index
            new ^= low


def _fingerprint(t: torch.Tensor) -> tuple[tuple[int, ...], tuple[float, ...]] | None:
    """Shape and up to 8 evenly spread elements, as doubles (float32 values read back exactly): enough to
    know an escaped tensor's values when they come back. The sample is () for values too plain to tell
    apart (one repeated value, a 0 or 1): only the shape is compared then. None for no float values."""
    if not (t.is_floating_point() and t.numel()) or t.layout != torch.strided or t.device.type == "meta":
        return None
    flat = t.detach().reshape(-1)
    sample = tuple(flat[:: max(1, flat.numel() // 8)][:8].double().cpu().tolist())
    if (
        len(set(sample)) < 2
        and (flat.numel() > 1 or sample[0] in (0.0, 1.0, -1.0))
        and sample[0] == sample[0]
    ):
        sample = ()
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


def _seen(seen: dict[int, Any], t: torch.Tensor) -> bool:
    """Whether ``t`` itself (not an earlier tensor whose freed id it reuses) is in ``seen``."""
    ref = seen.get(id(t))
    return ref is not None and ref() is t


def _versions(tensors: list[torch.Tensor]) -> list[int]:
    """Each tensor's version counter; -1 for an inference tensor, which has none (reading it raises)."""
    try:
        return [t._version for t in tensors]
    except RuntimeError:
        return [-1 if t.is_inference() else t._version for t in tensors]


def _is_leaf(t: torch.Tensor) -> bool:
    """``t.is_leaf``, which raises for a view made under no_grad whose base was then modified in place
    (``nn.Embedding(padding_idx=...)`` zeroes its padding row that way): such a view has no history."""
    try:
        return t.is_leaf
    except RuntimeError:
        return True
