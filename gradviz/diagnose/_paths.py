"""Questions about the captured backward graph: where did a gradient become zero, or non-finite?"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from gradviz.capture._records import Capture, GraphNode


class GraphIndex:
    def __init__(self, cap: Capture) -> None:
        self.cap = cap
        self.by_id: dict[str, GraphNode] = {n.id: n for n in cap.graph}
        self.parents: dict[str, list[str]] = {}  # towards the loss
        for node in cap.graph:
            for child in node.next:
                self.parents.setdefault(child, []).append(node.id)

    def boundary(self, start: str | None, bad: Callable[[float], bool]) -> GraphNode | None:
        """From a leaf's node, go towards the loss through nodes whose incoming gradient is ``bad``; the
        first node reached whose incoming gradient is fine produced the bad gradient (its op is to blame)."""
        if start is None or start not in self.by_id:
            return None
        node = self.by_id[start]
        if node.grad_norm is None or not bad(node.grad_norm):
            return None
        seen = {start}
        queue = deque([start])
        while queue:
            for parent_id in self.parents.get(queue.popleft(), ()):
                if parent_id in seen:
                    continue
                seen.add(parent_id)
                parent = self.by_id[parent_id]
                if parent.grad_norm is None:
                    continue
                if not bad(parent.grad_norm):
                    return parent
                queue.append(parent_id)
        return None

    def zero_source(self, start: str | None) -> GraphNode | None:
        return self.boundary(start, lambda n: n == 0.0)

    def nonfinite_source(self, start: str | None) -> GraphNode | None:
        return self.boundary(start, lambda n: not math.isfinite(n))

    def site_of(self, node: GraphNode | None):
        if node is None or node.op < 0:
            return None
        return self.cap.ops[node.op].site
