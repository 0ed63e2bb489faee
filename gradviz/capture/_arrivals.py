"""What a backward delivers to each target, as its accumulators' pre-hooks see it (NOTE [delivered, not
reached] in ``_backward``): one arrival, or several (each with its graph task), and how they combine."""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch

from gradviz.capture._failsafe import FailSafe
from gradviz.capture._norms import node_norm
from gradviz.records import GradState

NOT = object()  # no hook record
OUTER = -1  # key of the outer graph task in the ``tasks`` map
# one clock for the arrivals and the custom nodes' backward (Walk.ran): what arrived while a node's
# backward ran came out of it
tick = itertools.count().__next__


def combine(a: GradState, b: GradState) -> GradState:
    """The state of two deliveries to one target: non-finite wins, then finite, then zero."""
    if a == GradState.none:
        return b
    if b == GradState.none:
        return a
    if GradState.unknown in (a, b):
        return GradState.nonfinite if GradState.nonfinite in (a, b) else GradState.unknown
    return max(a, b)


def state_of(norm: float | None) -> GradState:
    if norm is None:
        return GradState.unknown
    if not math.isfinite(norm):
        return GradState.nonfinite
    return GradState.zero if norm == 0 else GradState.finite


def as_norm(raw: torch.Tensor | float | None) -> float | None:
    """A norm an accumulator's hook measured, as a float (a 0-d tensor off the CPU is read now)."""
    return float(raw) if isinstance(raw, torch.Tensor) else raw


def grad_of(t: torch.Tensor) -> torch.Tensor | None:
    """``.grad`` of a leaf, or of a non-leaf that retains it (reading it otherwise only warns)."""
    return t.grad if t.is_leaf or t.retains_grad else None


class Several:
    """Gradients that arrived more than once in one backward (a reentrant checkpoint's own backward, or any
    backward run inside a node's, adds to ``.grad`` in a graph task of its own): ``.grad`` is their sum,
    read as backward returns. If a hook consumed them (an optimizer step fused into backward runs at each
    arrival), each arrival is what was used: their worst state is what was delivered. Each arrival keeps
    its graph task, to tell what came through the graph walked before the backward from what came out of
    sight."""

    __slots__ = ("arrivals",)

    def __init__(self, *arrivals: tuple[int, torch.Tensor | float | None]) -> None:
        self.arrivals = list(arrivals)

    def worst(self, task: int | None = None) -> tuple[GradState, float | None]:
        """The combined state of the arrivals (of graph task ``task`` only, if given) and a norm that shows
        it (the first non-finite one, else the last: several consumed gradients have no single norm)."""
        state, shown = GradState.none, None
        for when, raw in self.arrivals:
            if task is not None and when != task:
                continue
            norm = as_norm(raw)
            if state != GradState.nonfinite:
                shown = norm
            state = combine(state, state_of(norm))
        return state, shown


def came_through(index: int, arrived: dict[int, Any], tasks: dict[int, int], outer: int | None) -> bool:
    """Whether a gradient reached target ``index`` in the graph task ``outer`` (the backward call's own),
    not only in one a node ran inside it (a reentrant checkpoint's)."""
    raw = arrived.get(index, NOT)
    if raw is NOT or outer is None:
        return False
    if isinstance(raw, Several):
        return any(task == outer for task, _ in raw.arrivals)
    return tasks.get(index) == outer


def arrival_hook(
    arrived: dict[int, Any],
    tasks: dict[int, int],
    index: int,
    failsafe: FailSafe,
    clocks: dict[int, list[int]],
):
    def hook(grad_outputs: tuple[torch.Tensor | None, ...]) -> None:
        try:
            g = grad_outputs[0] if grad_outputs else None
            if g is not None:
                clocks.setdefault(index, []).append(tick())  # one per arrival, in their order
                task = torch._C._current_graph_task_id()
                before = arrived.get(index, NOT)
                if before is NOT:
                    arrived[index], tasks[index] = node_norm(g), task
                elif isinstance(before, Several):
                    before.arrivals.append((task, node_norm(g)))
                else:
                    arrived[index] = Several((tasks[index], before), (task, node_norm(g)))
        except Exception as exc:  # NOTE [fail-safe]: a hook that raised would break the user's backward
            failsafe.fail(exc, "backward hook")

    return hook


def unseen_nonfinite_at(raw: Any, clock: list[int], outer: int | None) -> int:
    """When the first NaN/Inf of the arrivals ``raw`` (a :class:`Several`) arrived in a graph task other
    than ``outer`` (one a node ran inside the backward), on the clock of ``clock``; -1: none did."""
    if not isinstance(raw, Several) or outer is None or len(clock) != len(raw.arrivals):
        return -1
    for (task, norm), when in zip(raw.arrivals, clock, strict=True):
        value = as_norm(norm)
        if task != outer and value is not None and not math.isfinite(value):
            return when
    return -1


def task_hook(tasks: dict[int, int]):
    """A pre-hook for a root's node: the graph task of the backward itself (as opposed to one a node runs)."""

    def hook(grad_outputs: tuple[torch.Tensor | None, ...]) -> None:
        tasks.setdefault(OUTER, torch._C._current_graph_task_id())

    return hook
