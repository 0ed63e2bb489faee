"""What the forward tracer must know of the backwards run so far: written by the backward calls
(``_backward.py``), read by the tracer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from gradviz.records import Site


@dataclass
class BackwardMarks:
    """What the forward tracer must know of the backwards run so far. Written here, read by the tracer."""

    # tensors backward() was called on: id -> weak reference (a freed loss's id is soon another tensor's)
    roots: dict[int, Any] = field(default_factory=dict)

    def is_root(self, t: torch.Tensor) -> bool:
        ref = self.roots.get(id(t))
        return ref is not None and ref() is t

    grads: dict[int, int] = field(default_factory=dict)  # id(target's .grad) -> target index, after backward
    # ops before this index made tensors whose graph a backward freed (it ran without retain_graph): one
    # of those whose node that backward walked, used by a later op, carries a freed graph into a new
    # forward (an RNN state not detached); ``freed_by`` is that backward's line
    freed_at: int = 0
    freed_nodes: frozenset[int] = frozenset()  # sequence numbers of the nodes it freed
    freed_by: Site | None = None
    # an op after that backward took a target itself (a parameter): a new forward began, so a tensor of the
    # freed graph that reaches a loss is state carried into it, not a second loss of the same forward
    fresh: bool = False

    def clear(self) -> None:
        self.roots.clear()
        self.grads.clear()
        self.freed_at = 0
        self.freed_nodes = frozenset()
        self.freed_by = None
        self.fresh = False
