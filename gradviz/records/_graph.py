"""The recorded backward graph, indexed for walks towards the loss: one index for every layer.

Plain data only (``GraphNode`` records): capture uses it to locate births and blocks, the verdict rules to
find why a gradient came out zero, the view to place nodes in module boxes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from gradviz.records._capture import Capture, GraphNode, Site

__all__ = ["GraphIndex", "inherited_ops", "is_custom", "op_name_of"]


class GraphIndex:
    """A capture's backward graph: nodes by id, each node's parents (towards the loss), and the forward op
    each node belongs to (``op_of``, see :func:`inherited_ops`)."""

    def __init__(self, cap: Capture) -> None:
        self.cap = cap
        self.by_id: dict[str, GraphNode] = {n.id: n for n in cap.graph}
        self.parents: dict[str, list[str]] = {}  # towards the loss
        for node in cap.graph:
            for child in node.next:
                self.parents.setdefault(child, []).append(node.id)
        self.op_of = inherited_ops(cap.graph, self.by_id)

    def ancestors(
        self, start: str, through: Callable[[GraphNode], bool] = lambda _: True
    ) -> Iterator[tuple[GraphNode, GraphNode]]:
        """Breadth-first from ``start`` towards the loss: each ``(parent, child)`` edge to a node not seen
        before. The walk goes on above a parent only where ``through(parent)`` holds."""
        if start not in self.by_id:
            return
        seen = {start}
        queue = deque([start])
        while queue:
            child = self.by_id[queue.popleft()]
            for parent_id in self.parents.get(child.id, ()):
                if parent_id in seen:
                    continue
                seen.add(parent_id)
                parent = self.by_id[parent_id]
                yield parent, child
                if through(parent):
                    queue.append(parent_id)

    def towards_loss(
        self,
        start: str,
        stop: Callable[[GraphNode], bool],
        through: Callable[[GraphNode], bool] = lambda _: True,
    ) -> GraphNode | None:
        """The first node, breadth-first from ``start`` towards the loss, for which ``stop`` holds."""
        return next((parent for parent, _ in self.ancestors(start, through) if stop(parent)), None)

    def site_of(self, node: GraphNode | None) -> Site | None:
        """The user's line of the forward op that made ``node`` (None: no traced op made it)."""
        if node is None:
            return None
        op = self.op_of.get(node.id, -1)
        return self.cap.ops.user_site(op) if op >= 0 else None

    def op_name(self, node: GraphNode) -> str:
        """The forward op's name ("linear"), or one read from the node's ("SqrtBackward0" -> "sqrt")."""
        op = self.op_of.get(node.id, -1)
        if op >= 0 and node.op >= 0:
            return self.cap.ops[op].name
        return op_name_of(node.name)


def inherited_ops(graph: list[GraphNode], by_id: dict[str, GraphNode]) -> dict[str, int]:
    """Op index per node; nodes made as a side effect of an op (TBackward0 inside linear) take their
    consumer's op, so they point at the same line and sit in the same module box."""
    op_of: dict[str, int] = {}
    for node in graph:  # breadth-first from the roots: consumers come before what they consume
        own = node.op if node.op >= 0 else op_of.get(node.id, -1)
        op_of[node.id] = own
        for child in node.next:
            if by_id[child].op < 0 and child not in op_of and own >= 0:
                op_of[child] = own
    return op_of


def is_custom(node: GraphNode) -> bool:
    """A custom autograd.Function's node: "<Name>Backward", without the version digit of built-in ops."""
    return node.name.endswith("Backward")


def op_name_of(node_name: str) -> str:
    """ "SqrtBackward0" -> "sqrt"."""
    return node_name.rstrip("0123456789").removesuffix("Backward").lower()
