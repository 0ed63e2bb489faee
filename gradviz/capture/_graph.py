"""Walk the autograd graph from the roots of a backward call, as plain data.

# NOTE [no nodes kept]
# Autograd nodes cannot be weak-referenced, and holding one keeps every tensor it saved alive. The walk
# holds nodes only in local variables; what survives is GraphNode records, norm slots written by hooks
# during backward, and the hooks' removable handles, which the caller removes as soon as backward returns
# (also when it raises).
#
# NOTE [deep chains]
# The walk is iterative and handles any width. But torch 2.13 itself crashes (C stack overflow) when it
# frees a chain of more than roughly 30-50k nodes that all got a Python object (which reading
# ``next_functions`` gives them); measured with an 8 MB stack, a 200k-deep chain with only its first 10k
# nodes read frees fine. So the walk stops DEPTH_LIMIT levels below the roots and says so: a working
# training step never becomes a crash because it was traced.
#
# NOTE [norms that need no hook]
# A node that only moves values around (a view, a transpose, a slice, a split) passes on a gradient with the
# same norm it received. When such a node's only child has no other parent, the child's incoming norm *is*
# the node's: the node gets no hook and its norm is copied after backward (``resolve``). Transformers are
# full of such nodes; skipping them saves a third of the hooks at no loss of information (zero stays zero,
# non-finite stays non-finite).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from gradviz.capture._arrivals import tick
from gradviz.capture._failsafe import FailSafe
from gradviz.capture._norms import node_norm
from gradviz.records import GraphNode, is_custom

HOOK_LIMIT = 20_000  # above this many nodes, per-node gradient norms are not captured
DEPTH_LIMIT = 10_000  # levels below the roots; see NOTE [deep chains]

# Nodes whose outgoing gradient has the norm of the incoming one (see NOTE [norms that need no hook]).
NORM_PRESERVING = frozenset(
    {
        "ViewBackward0",
        "UnsafeViewBackward0",
        "ReshapeAliasBackward0",
        "AliasBackward0",
        "TransposeBackward0",
        "TransposeBackward1",
        "TBackward0",
        "PermuteBackward0",
        "UnsqueezeBackward0",
        "SqueezeBackward0",
        "SqueezeBackward1",
        "SqueezeBackward2",
        "SqueezeBackward3",
        "SqueezeBackward4",
        "CloneBackward0",
        "SliceBackward0",
        "SelectBackward0",
        "SplitBackward0",
        "SplitWithSizesBackward0",
        "UnbindBackward0",
        "UnsafeSplitBackward0",
    }
)


# Nodes that pass their incoming gradient to each input unchanged (up to sign) when no input was broadcast.
PASS_THROUGH = frozenset({"AddBackward0", "SubBackward0"})


@dataclass
class Walk:
    nodes: list[GraphNode]
    reached: int  # bitset of targets whose AccumulateGrad is in the graph
    roots: list[str | None]  # node id of each root (None: the root has no grad_fn)
    truncated: bool = False  # stopped at the node limit
    too_deep: int = 0  # nodes not walked because they lie more than DEPTH_LIMIT levels below a root
    handles: list[RemovableHandle] = field(default_factory=list)
    norms: list[Any] = field(default_factory=list)  # per node: norm (float / 0-d tensor) or None
    derived: dict[int, int] = field(default_factory=dict)  # node index -> index of the child it copies
    accumulators: dict[int, int] = field(default_factory=dict)  # target index -> node index
    # the autograd sequence number of every node walked: stable, unlike id() of the Python wrapper objects,
    # which are freed after the walk and whose addresses new ones reuse
    node_seqs: frozenset[int] = frozenset()
    # the user's autograd.Function classes whose nodes were walked (not torch's own): their backward runs
    # Python the tracer does not see (NOTE [writes during a backward])
    functions: set[Any] = field(default_factory=set)
    # custom node index -> when its backward began and ended (_arrivals.tick)
    ran: dict[int, list[int]] = field(default_factory=dict)

    def finish(self) -> None:
        """Remove the hooks and move captured norms into the records (one host copy per device)."""
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        for i, (began, ended) in self.ran.items():
            if began >= 0 and ended >= 0:
                self.nodes[i].ran = (began, ended)
        self.ran = {}
        pending: dict[torch.device, list[tuple[int, torch.Tensor]]] = {}
        for i, n in enumerate(self.norms):
            if n is None:
                continue
            if isinstance(n, torch.Tensor):
                pending.setdefault(n.device, []).append((i, n))
            else:
                self.nodes[i].grad_norm = n
        for group in pending.values():
            values = torch.stack([n.double() for _, n in group]).tolist()
            for (i, _), value in zip(group, values, strict=True):
                self.nodes[i].grad_norm = value
        self.norms = []

    def resolve(self) -> None:
        """Give nodes that had no hook the norm of the child they pass their gradient to (call after the
        accumulators' norms are set)."""
        # A derivable node's child was first reached through it, so it comes later in breadth-first order:
        # in reverse order, a chain of views resolves from its end.
        for i in sorted(self.derived, reverse=True):
            self.nodes[i].grad_norm = self.nodes[self.derived[i]].grad_norm
        self.derived = {}


def walk(
    roots: Sequence[Any],
    targets: dict[int, tuple[torch.Tensor, int]],
    op_of_node: Callable[[int], int] | None,
    hook_norms: bool = True,
    limit: int = 1_000_000,
    leaves: list[tuple[str, torch.Tensor]] | None = None,
    watch: Callable[[int], Callable[[tuple], None] | None] | None = None,
    fn_targets: dict[int, tuple[Any, int]] | None = None,
    passes: Callable[[int], bool] | None = None,
    failsafe: FailSafe | None = None,
    module_of: Callable[[int], str | None] | None = None,
) -> Walk:
    """Breadth-first from each root's grad_fn. ``targets`` maps id(tensor) -> (tensor, target index);
    ``op_of_node`` maps a node's sequence number to the index of the forward op that created it.

    With ``leaves``, each leaf that is not a target is appended as (node id, tensor) for the caller.
    With ``watch``, ``watch(target index)`` may return a pre-hook for that target's AccumulateGrad node
    (it sees the gradient this backward delivers); it is registered and removed with the others.
    ``fn_targets`` maps id(grad_fn) -> (grad_fn, target index) for targets that are not leaves: their node
    is marked as theirs, and its incoming gradient is theirs. ``passes(op)`` says whether an add/sub op
    broadcast none of its inputs (then its node needs no hook of its own). ``module_of(sequence number)``
    names the module whose forward made a node, for graphs walked without a forward trace.
    """
    ids: dict[int, int] = {}
    nodes: list[GraphNode] = []
    live: list[Any] = []  # the node objects, only for the duration of this walk; also the BFS queue
    depth: list[int] = []

    def add(fn: Any, level: int) -> int:
        index = ids[id(fn)] = len(nodes)
        nodes.append(GraphNode(f"g{index}", type(fn).__name__, []))
        live.append(fn)
        depth.append(level)
        return index

    root_ids: list[str | None] = []
    for fn in roots:
        if fn is None:
            root_ids.append(None)
        else:
            index = ids.get(id(fn))
            root_ids.append(nodes[add(fn, 0) if index is None else index].id)
    reached = 0
    too_deep = 0
    accumulators: dict[int, int] = {}
    functions: set[Any] = set()
    head = 0  # live[head:] is the queue: breadth-first order is the order nodes were added
    while head < len(live) and len(nodes) < limit:
        fn = live[head]
        index = head
        head += 1
        record = nodes[index]
        if record.name == "AccumulateGrad":
            variable = fn.variable
            hit = targets.get(id(variable))
            if hit is not None and hit[0] is variable:
                record.target = hit[1]
                reached |= 1 << hit[1]
                accumulators[hit[1]] = index
            else:
                record.leaf_name = "×".join(map(str, variable.shape)) or "scalar"
                if leaves is not None:
                    leaves.append((record.id, variable))
        else:
            if record.name.endswith("Backward"):  # an autograd.Function's node (built-in ones end in a digit)
                forward_cls = getattr(fn, "_forward_cls", None)
                if forward_cls is not None and not forward_cls.__module__.startswith("torch."):
                    functions.add(forward_cls)
            if module_of is not None:
                record.module = module_of(fn._sequence_nr()) or ""
            if op_of_node is not None:
                seq = fn._sequence_nr()
                record.op = op_of_node(seq)
                if record.op < 0:
                    record.seq = seq
            if fn_targets is not None:
                hit = fn_targets.get(id(fn))
                if hit is not None and hit[0] is fn:  # the grad_fn of a non-leaf target
                    record.target = hit[1]
                    reached |= 1 << hit[1]
        level = depth[index] + 1
        if level > DEPTH_LIMIT:
            too_deep += sum(1 for child, _ in fn.next_functions if child is not None)
            continue
        children = record.next
        for child, _ in fn.next_functions:
            if child is not None:
                j = ids.get(id(child))
                children.append(nodes[add(child, level) if j is None else j].id)
    result = Walk(
        nodes=nodes,
        reached=reached,
        roots=root_ids,
        truncated=head < len(live),
        too_deep=too_deep,
        accumulators=accumulators,
        node_seqs=frozenset(fn._sequence_nr() for fn in live),
        functions=functions,
    )
    try:
        if watch is not None:
            for target, i in accumulators.items():
                hook = watch(target)
                if hook is not None:
                    result.handles.append(live[i].register_prehook(hook))
        if hook_norms and len(nodes) <= HOOK_LIMIT:
            result.norms = [None] * len(nodes)
            result.derived = _derivable(nodes, passes)
            # a leaf's incoming gradient is the one it accumulates: its norm comes from what it received
            result.handles.extend(
                fn.register_prehook(_norm_hook(result.norms, i, failsafe))
                for i, fn in enumerate(live)
                if nodes[i].name != "AccumulateGrad" and i not in result.derived
            )
            for i, fn in enumerate(live):  # what arrives at a target while a custom node's backward runs
                if is_custom(nodes[i]):
                    result.ran[i] = window = [-1, -1]
                    result.handles.append(fn.register_prehook(_clock_hook(window, 0)))
                    result.handles.append(fn.register_hook(_clock_hook(window, 1)))
    except BaseException:  # no hook outlives a walk that did not finish (NOTE [fail-safe])
        result.finish()
        raise
    return result


def _derivable(nodes: list[GraphNode], passes: Callable[[int], bool] | None) -> dict[int, int]:
    """Nodes whose norm equals a child's (see NOTE [norms that need no hook]): a view-like node's only
    child, or a child of an add/sub without broadcasting (``passes(op)``), that has no other parent."""
    parents: dict[str, int] = {}
    for node in nodes:
        for child in node.next:
            parents[child] = parents.get(child, 0) + 1
    out: dict[int, int] = {}
    for i, node in enumerate(nodes):
        viewlike = node.name in NORM_PRESERVING and len(node.next) == 1
        if not viewlike and not (node.name in PASS_THROUGH and passes and node.op >= 0 and passes(node.op)):
            continue
        for child_id in node.next:
            index = int(child_id[1:])
            if parents.get(child_id) == 1 and not nodes[index].leaf_name:  # a plain leaf has no norm
                out[i] = index
                break
    return out


def _clock_hook(window: list[int], end: int):
    """A custom node's pre-hook (``end`` 0) or hook (1): when its backward began or ended."""

    def hook(*_: Any) -> None:
        window[end] = tick()

    return hook


def _norm_hook(slots: list[Any], i: int, failsafe: FailSafe | None):
    def hook(grad_outputs: tuple[torch.Tensor | None, ...]) -> None:
        try:
            norm(grad_outputs)
        except Exception as exc:  # NOTE [fail-safe]: a hook that raised would break the user's backward
            if failsafe is None:
                raise
            failsafe.fail(exc, "backward hook")

    def norm(grad_outputs: tuple[torch.Tensor | None, ...]) -> None:
        if len(grad_outputs) == 1:  # most nodes: one output, one incoming gradient
            g = grad_outputs[0]
            if g is not None:
                slots[i] = node_norm(g)
            return
        norms = [node_norm(g) for g in grad_outputs if g is not None]
        norms = [n for n in norms if n is not None]
        if not norms:
            return
        if len(norms) == 1:
            slots[i] = norms[0]
            return
        floats = [n for n in norms if isinstance(n, float)]
        if len(floats) == len(norms):
            slots[i] = sum(n * n for n in floats) ** 0.5
        else:
            slots[i] = torch.linalg.vector_norm(torch.stack([torch.as_tensor(n).double() for n in norms]))

    return hook
