"""The records of one trace: plain data produced by capture and read by the verdict rules and the view.

# NOTE [plain data only]
# Nothing in this module may hold a torch object (tensor, autograd node, module, optimizer). A finished
# Capture must be picklable, must not keep activations or gradients alive, and must render with no torch
# objects around (an exported page, a saved trace). Sets of targets are Python ints used as bitsets:
# bit ``i`` is ``Capture.targets[i]``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from gradviz.records._errors import ErrorKind
from gradviz.records._state import GradState
from gradviz.records._verdict import Cause


@dataclass(frozen=True)
class Site:
    """A line of the user's own code."""

    file: str
    line: int
    code: str = ""
    library: bool = False  # a line of installed library code (site-packages), not the user's own

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class TensorSummary:
    """Statistics of one tensor, readable at a glance; see ``capture._stats`` (``sampled``: computed from a
    strided sample of a large tensor; ``norm``, and NaN/Inf counts, are exact)."""

    shape: tuple[int, ...]
    dtype: str
    device: str
    numel: int
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    norm: float | None = None
    norm_estimated: bool = False  # ``norm`` estimated from the sample (weights of large tensors)
    zeros: int | None = None
    nan: int | None = None
    inf: int | None = None
    sampled: bool = False
    hist: list[float] = field(default_factory=list)  # counts in equal bins from min to max
    sample: Any = field(default=None, repr=False)  # numpy float32 array, at most SAMPLE_SIZE elements


@dataclass
class Target:
    """A tensor whose gradient is diagnosed: a parameter, an unregistered tensor or a user tensor."""

    index: int
    name: str
    kind: str  # "parameter" | "unregistered" | "tensor"
    unregistered_how: str = ""  # "attribute" | "list" | "dict" | "copy" (a .to() copy: non-leaf)
    module_held: bool = True  # "list" / "dict": held through a module in it (else the tensor itself is)
    module: str = ""
    requires_grad: bool = True
    is_leaf: bool = True
    grad_fn: str | None = None
    in_optimizer: bool | None = None  # None: no optimizer was given
    reached: bool = False  # an AccumulateGrad of the backward graph holds this tensor (not: a gradient came)
    # What the traced backward(s) delivered (see NOTE [delivered, not reached] in capture/_backward.py).
    delivered: GradState = GradState.none
    delivered_norm: float | None = None
    returned: bool = False  # autograd.grad / torch.func returned its gradient instead of storing it
    consumed: bool = False  # a hook took its gradient during backward (an optimizer step fused into it)
    # an optimizer step that holds it finished while its gradient was there, after that gradient arrived:
    # the step read it (a zero_grad() after that is the end of a training step, not a lost gradient)
    stepped: bool = False
    # the module it belongs to whose ops the tracer cannot see: ``opaque_how`` is "TorchScript" or
    # "torch.compile"; ``opaque_site`` the user's line where that code's output was first seen
    opaque: str = ""
    opaque_how: str = ""
    opaque_site: Site | None = None
    # a backward that reached it was asked for other inputs (``backward(inputs=...)``, ``autograd.grad``):
    # the call's line (None: every backward that reached it was asked for it)
    not_requested: Site | None = None
    not_requested_by: str = ""  # that call: "backward" (inputs=) or "autograd.grad"
    failed: bool = False  # a backward that raised should have delivered to it and did not
    # a NaN/Inf that arrived in a graph task a node ran inside the backward (a reentrant checkpoint's): when,
    # on the clock of GraphNode.ran (-1: none such)
    unseen_nonfinite_at: int = -1
    grad_before: float | None = None  # norm of a .grad already there when the trace's first backward began
    grad_norm: float | None = None  # norm of .grad when the trace ended (None: .grad is None)
    grad_state: GradState = GradState.none  # what .grad held when the trace ended
    first_use: int = -1  # index into Capture.ops of the first op that read it
    created: Site | None = None  # a Parameter made during the traced forward: the line that first used it
    birth: int = -1  # nonfinite gradients: index into Capture.births of where the NaN/Inf was born
    replaced: bool = False  # it replaced a Parameter of the same name (made anew on every call)
    node: str | None = None  # id of its AccumulateGrad node in Capture.graph
    value: TensorSummary | None = None
    grad: TensorSummary | None = None

    @property
    def bit(self) -> int:
        return 1 << self.index


@dataclass
class Op:
    """One torch call seen during the forward."""

    index: int
    name: str
    module: str
    site: Site | None
    grad_enabled: bool
    inputs: list[tuple[int, ...]]
    outputs: list[tuple[int, ...]]
    out_dtype: str = ""
    inference: bool = False
    joins: tuple[int, ...] = ()  # cuts whose (dead) values enter the differentiable graph here
    caller: Site | None = None  # when ``site`` is library code: the user's line that called into it


class OpRecords(Sequence[Op]):
    """The ops a trace saw, in order. ``Capture.ops`` is always one: the tracer's column store
    (``capture._oplog.OpLog``) or, for captures made without a forward trace, a plain :class:`OpList`."""

    def user_site(self, index: int) -> Site | None:
        """The user's line for op ``index``: its own line, or the user's call into the library it ran in."""
        raise NotImplementedError

    def joined_at(self, cut: int) -> list[int]:
        """Indices of the ops where the (gradient-less) value of cut ``cut`` entered the graph."""
        raise NotImplementedError


class OpList(OpRecords):
    """Ops held as a list of :class:`Op` records."""

    def __init__(self, ops: Sequence[Op] = ()) -> None:
        self._ops = list(ops)

    def __len__(self) -> int:
        return len(self._ops)

    @overload
    def __getitem__(self, index: int) -> Op: ...
    @overload
    def __getitem__(self, index: slice) -> list[Op]: ...
    def __getitem__(self, index: int | slice) -> Op | list[Op]:
        return self._ops[index]

    def __iter__(self) -> Iterator[Op]:
        return iter(self._ops)

    def user_site(self, index: int) -> Site | None:
        if not 0 <= index < len(self._ops):
            return None
        op = self._ops[index]
        return op.caller or op.site

    def joined_at(self, cut: int) -> list[int]:
        return [op.index for op in self._ops if cut in op.joins]


class CutHow(str, enum.Enum):
    """How a cut cut: what a message says beyond its cause and op."""

    op = "op"  # the op itself (``.detach()``, ``argmax``, ``.item()``, an op run under no_grad)
    rebuilt = "rebuilt"  # escaped: values copied into a new tensor (``torch.tensor([t1, t2])``)
    after_detach = "after_detach"  # escaped: a ``.detach()`` / ``.data`` that served an escape
    reentrant = "reentrant"  # checkpoint: inside a reentrant torch.utils.checkpoint
    in_function = "in_function"  # no_grad: inside a custom autograd.Function's forward, not passed to apply
    inference_mode = "inference_mode"  # no_grad: inside torch.inference_mode()
    grad_switch = "grad_switch"  # no_grad: ``site`` is the user's switch; ``op_site`` the op it covered
    # no_grad: a gradient that autograd.grad returned without create_graph=True (it carries no graph)
    grad_without_graph = "grad_without_graph"
    hidden = "hidden"  # non_differentiable: inside a TorchScript module, whose output has no gradient
    returns_none = "returns_none"  # blocked: a custom Function's backward returned None for it
    no_gradient_out = "no_gradient_out"  # blocked: an op's backward passed no gradient to that input

    def __str__(self) -> str:
        return self.value


@dataclass
class Cut:
    """A place where values of some targets flowed on but their gradient path ended.

    ``kind`` is the cause it gives: detach, data, no_grad, non_differentiable, escaped, checkpoint.
    """

    index: int
    kind: Cause
    op: str
    lost: int  # bitset of targets
    site: Site | None
    module: str = ""
    how: CutHow = CutHow.op
    op_index: int = -1
    retracted: bool = False  # turned out not to be a cut (an autograd.Function attached a grad_fn)
    # The op's own line when ``site`` is another one: the line inside a ``with torch.no_grad():`` block
    # (``site`` is the ``with``), or the library line (``site`` is the user's call into the library).
    op_site: Site | None = None
    # detach / .data: index of the op that made the tensor it was applied to (-1: unknown), so the verdicts
    # can read the shape of the expression around it (``x + (f(x) - x).detach()``, a straight-through)
    source: int = -1
    # the cuts one edit of the code removes (NOTE [what would learn without a cut]): the index of the first
    # cut of the same cause at the same line (a ``.detach()`` in a loop, one ``with torch.no_grad():``)
    group: int = -1
    # escaped: where other values of the same shape left torch, when a tensor that came back through NumPy
    # could hold theirs as well as this cut's (values changed on the way: gradviz cannot tell which came
    # back); empty once one came back that is surely this cut's (its very values, or the only candidate)
    maybe: tuple[Site | None, ...] = ()
    surely: bool = False  # escaped: values surely this cut's came back
    # in_function / checkpoint: the autograd sequence number of the node of the Function or reentrant
    # checkpoint whose forward made it (GraphNode.seq; -1: unknown)
    node_seq: int = -1


@dataclass
class Inplace:
    """An in-place op on a tensor: blamed for 'modified by an inplace operation' errors."""

    op: str
    site: Site | None
    shape: tuple[int, ...]
    dtype: str
    version: int  # tensor._version after the op
    made_by: str  # name of the op that produced the tensor, e.g. "sigmoid"
    is_leaf: bool
    module: str = ""
    index: int = -1  # the op's index in the forward (-1: unknown)


@dataclass
class Clear:
    """A gradient removed or zeroed after it was received (optimizer.zero_grad(), p.grad = None)."""

    targets: int  # bitset
    site: Site | None
    how: str  # "set to None" | "zeroed" | "written by <op>" (another in-place op on the .grad)


@dataclass(slots=True)
class GraphNode:
    """One autograd node of the backward graph, as plain data."""

    id: str
    name: str  # e.g. "AddmmBackward0", "AccumulateGrad"
    next: list[str]  # ids of the nodes its gradient flows to (towards the leaves)
    target: int = -1  # for AccumulateGrad: index of the target it accumulates into (-1: not a target)
    leaf_name: str = ""  # for AccumulateGrad of a non-target leaf: its shape as text
    op: int = -1  # index into Capture.ops of the forward call that created it (-1: unknown)
    seq: int = -1  # autograd sequence number, for nodes no traced op made (a custom Function's node)
    grad_norm: float | None = None  # norm of the gradient that reached this node (None: not captured)
    module: str = ""  # without a traced op: the module whose forward made it ("": unknown or the top level)
    # a custom node's (a Function's, a reentrant checkpoint's): when its backward began and ended, on a clock
    # the arrivals at the targets share (what arrived in between came out of its backward)
    ran: tuple[int, int] | None = None


@dataclass
class Root:
    """A tensor that backward() (or autograd.grad) was called on."""

    values: int  # bitset: targets its value depends on
    grads: int  # bitset: targets still reachable through autograd, as tracked in the forward
    cuts: tuple[int, ...]
    requires_grad: bool
    site: Site | None
    node: str | None  # id of its grad_fn in the graph
    shape: tuple[int, ...] = ()
    call: str = "backward"  # "backward" | "autograd.grad"
    nonfinite: str = ""  # "nan" | "inf" when the root's value was not finite
    birth: int = -1  # index into Capture.births of where that value was born
    asked_all: bool = True  # its call computed gradients for every leaf (not backward(inputs=) / grad)
    asked: int = 0  # when not asked_all: bitset of the targets it asked for
    # cut group -> the targets it would reach by autograd were that group's cuts removed, and no other cut
    # (NOTE [what would learn without a cut] in capture/_lineage.py)
    shadow: dict[int, int] = field(default_factory=dict)


@dataclass
class Recut:
    """An op that cut a value whose gradient path an earlier cut had already ended: without those earlier
    cuts, this op would still stop their targets' gradients (``groups``: cut group -> those targets)."""

    op_index: int
    op: str
    kind: Cause
    site: Site | None
    groups: dict[int, int]


@dataclass
class ErrorInfo:
    """An exception raised inside the trace, with the line gradviz blames for it."""

    type: str
    message: str
    phase: str  # "forward" | "backward"
    site: Site | None
    kind: ErrorKind
    blame: Site | None = None  # the line that really caused it (the in-place line, the detach, ...)
    blame_op: str = ""
    inner: Site | None = None  # the library line under ``blame`` when the error came from library code


@dataclass
class Birth:
    """Where a non-finite value (NaN or Inf) first appeared: the op that made it from finite inputs.

    ``phase`` "forward": the op's output was the first non-finite value on its lineage (``log`` of a
    negative, ``0/0``, a softmax over a row masked entirely to -inf, an overflow). ``phase`` "backward":
    the op's backward turned a finite incoming gradient into a non-finite one (``sqrt`` at 0, a distance
    between equal points). ``phase`` "input": a NaN/Inf the traced code received from outside (the data, a
    parameter that already held NaN), first seen at this op. ``node`` is the GraphNode to mark (the node the
    op created), or None when the op is not in the drawn graph.
    """

    kind: str  # "nan" | "inf"
    phase: str  # "forward" | "backward" | "input"
    op: int  # index into Capture.ops (-1: unknown)
    op_name: str  # e.g. "log", "sqrt", "softmax"
    node: str | None
    site: Site | None
    detail: str = ""  # one phrase on how, e.g. "from a negative input", "divides by sqrt(0)"
    masked_by: int = -1  # forward births: index of the op (torch.where, masked_fill, ...) that hid it
    op_site: Site | None = None  # the op's own line in library code, when ``site`` is the user's call


@dataclass
class Carried:
    """A tensor made before the trace (with its autograd history) that the traced forward used: state
    carried across steps, such as an RNN hidden state. Backward walks into the step that made it."""

    op: int  # index of the first op that used it
    site: Site | None
    shape: tuple[int, ...]
    made_by: str  # its grad_fn, e.g. "TanhBackward0"


@dataclass
class Capture:
    """Everything one trace recorded."""

    targets: list[Target] = field(default_factory=list)
    ops: OpRecords = field(default_factory=OpList)
    cuts: list[Cut] = field(default_factory=list)
    inplace: list[Inplace] = field(default_factory=list)
    clears: list[Clear] = field(default_factory=list)
    graph: list[GraphNode] = field(default_factory=list)
    roots: list[Root] = field(default_factory=list)
    error: ErrorInfo | None = None
    backward_calls: int = 0
    escaped: int = 0  # bitset: targets whose values left torch (.item(), .numpy(), ...) while traced
    escape_cuts: tuple[int, ...] = ()  # cuts on the lineage of values that left torch
    modules: dict[str, str] = field(default_factory=dict)  # module path -> class name
    model_name: str = ""
    source: str = "trace"  # "trace" (forward traced) | "graph" (gradviz.diagnose: autograd graph only)
    graph_truncated: bool = False  # the walk stopped at its node limit: the graph is partial
    births: list[Birth] = field(default_factory=list)  # where non-finite values first appeared
    recuts: list[Recut] = field(default_factory=list)  # cuts behind cuts (what-if of a cut)
    carried: list[Carried] = field(default_factory=list)  # tensors with history from before the trace
    functions: dict[int, Site] = field(default_factory=dict)  # autograd sequence nr -> Function.apply line
    op_taint: dict[int, int] = field(default_factory=dict)  # op index -> birth index of a NaN/Inf it carried
    notes: list[str] = field(default_factory=list)
    # gradviz's own error, when one stopped the recording (NOTE [fail-safe] in capture/_failsafe.py): then
    # only each target's final .grad is known, and the verdicts say so
    failure: str = ""

    def names(self, bits: int) -> list[str]:
        return [t.name for t in self.targets if bits >> t.index & 1]
