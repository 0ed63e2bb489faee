"""What the Tracer's mixins (_escapes.py, _unseen.py, _writes.py) read of it: one declaration for all."""

from __future__ import annotations

import torch

from gradviz.capture._backward_marks import BackwardMarks
from gradviz.capture._finite import FiniteWatch
from gradviz.capture._lineage import Lineage
from gradviz.capture._oplog import OpLog
from gradviz.records import Capture, Cause, CutHow, Site


class TracerPart:
    """A part of the Tracer (capture/_tracer.py): its state, set by Tracer.__init__, and the methods the
    parts call on one another."""

    cap: Capture
    lineage: Lineage
    log: OpLog
    finite: FiniteWatch | None
    marks: BackwardMarks
    modules: list[str]

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
        """Record a cut of the gradient of the targets in ``lost`` (the Tracer's own)."""
        raise NotImplementedError

    def lineage_of(self, t: torch.Tensor) -> tuple[int, int, tuple[int, ...]] | None:
        """(values, grads, cuts) of ``t``'s lineage, the cuts taken back that were not real (_cuts.py)."""
        raise NotImplementedError

    def _came_back(
        self, external: list[torch.Tensor] | None, args: tuple, kwargs: dict
    ) -> tuple[int, tuple[int, ...]]:
        """Values that left torch and come back in these tensors or arguments (the Escapes part's)."""
        raise NotImplementedError
