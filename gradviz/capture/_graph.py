"""Walk the autograd graph from the roots of a backward call, as plain data.

# NOTE [no nodes kept]
# Autograd nodes cannot be weak-referenced, and holding one keeps every tensor it saved alive. The walk
# holds nodes only in local variables; what survives is GraphNode records, a list of norm slots written
# by pre-hooks during backward, and the hooks' removable handles, which the caller removes as soon as
# backward returns (also when it raises).
#
# NOTE [deep chains]
# The walk is iterative and handles any depth. But torch 2.13 itself crashes (C stack overflow) when it
# frees a chain deeper than roughly 20-50k nodes after Python has read ``next_functions`` on it (measured
# with an 8 MB stack; torchviz's walk triggers it too). Graphs of real models are wide, not that deep.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from gradviz.capture._records import GraphNode

HOOK_LIMIT = 20_000  # above this many nodes, per-node gradient norms are not captured


@dataclass
class Walk:
    nodes: list[GraphNode]
    reached: int  # bitset of targets whose AccumulateGrad is in the graph
    roots: list[str | None]  # node id of each root (None: the root has no grad_fn)
    truncated: bool = False  # stopped at the node limit
    handles: list[RemovableHandle] = field(default_factory=list)
    norms: list[Any] = field(default_factory=list)  # per node: 0-d tensor or None, filled during backward

    def finish(self) -> None:
        """Remove the hooks and move captured norms into the records (one host copy per device)."""
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        filled = [(i, n) for i, n in enumerate(self.norms) if n is not None]
        by_device: dict[torch.device, list[tuple[int, torch.Tensor]]] = {}
        for i, n in filled:
            by_device.setdefault(n.device, []).append((i, n))
        for group in by_device.values():
            values = torch.stack([n.float() for _, n in group]).tolist()
            for (i, _), value in zip(group, values, strict=True):
                self.nodes[i].grad_norm = value
        self.norms = []


def walk(
    roots: Sequence[Any],
    targets: dict[int, tuple[torch.Tensor, int]],
    op_of_node: Callable[[int], int] | None,
    hook_norms: bool = True,
    limit: int = 1_000_000,
    leaves: list[tuple[str, torch.Tensor]] | None = None,
) -> Walk:
    """Breadth-first from each root's grad_fn. ``targets`` maps id(tensor) -> (tensor, target index);
    ``op_of_node`` maps a node's sequence number to the index of the forward op that created it.

    With ``leaves``, each leaf that is not a target is appended as (node id, tensor) for the caller.
    """
    ids: dict[int, str] = {}
    nodes: list[GraphNode] = []
    live: list[Any] = []  # the node objects, only for the duration of this walk
    queue: deque[Any] = deque()

    def visit(fn: Any) -> str:
        gid = ids.get(id(fn))
        if gid is None:
            gid = ids[id(fn)] = f"g{len(nodes)}"
            nodes.append(GraphNode(id=gid, name=type(fn).__name__, next=[]))
            live.append(fn)
            queue.append(fn)
        return gid

    root_ids = [None if fn is None else visit(fn) for fn in roots]
    reached = 0
    while queue and len(nodes) < limit:
        fn = queue.popleft()
        record = nodes[int(ids[id(fn)][1:])]
        variable = getattr(fn, "variable", None)
        if variable is not None:
            hit = targets.get(id(variable))
            if hit is not None and hit[0] is variable:
                record.target = hit[1]
                reached |= 1 << hit[1]
            else:
                record.leaf_name = "×".join(map(str, variable.shape)) or "scalar"
                if leaves is not None:
                    leaves.append((record.id, variable))
        if op_of_node is not None and variable is None:
            record.op = op_of_node(fn._sequence_nr())
        for child, _ in fn.next_functions:
            if child is not None:
                record.next.append(visit(child))
    result = Walk(nodes=nodes, reached=reached, roots=root_ids, truncated=bool(queue))
    if hook_norms and len(nodes) <= HOOK_LIMIT:
        result.norms = [None] * len(nodes)
        # a leaf's incoming gradient is the one it accumulates: its norm comes from .grad, not a hook
        result.handles = [
            fn.register_prehook(_norm_hook(result.norms, i))
            for i, fn in enumerate(live)
            if nodes[i].target < 0 and not nodes[i].leaf_name
        ]
    return result


def _norm_hook(slots: list[Any], i: int):
    def hook(grad_outputs: tuple[torch.Tensor | None, ...]) -> None:
        norms = [_norm(g) for g in grad_outputs if g is not None and g.layout == torch.strided]
        if not norms:
            return
        slots[i] = norms[0] if len(norms) == 1 else torch.linalg.vector_norm(torch.stack(norms))

    return hook


def _norm(g: torch.Tensor) -> torch.Tensor:
    if g.dtype in (torch.float16, torch.bfloat16):
        return torch.linalg.vector_norm(g, dtype=torch.float32)
    if g.is_complex():
        return torch.linalg.vector_norm(g).real
    return torch.linalg.vector_norm(g)
