"""A closure given to ``optimizer.step()`` (LBFGS, SAM-style two-pass steps), for :func:`gradviz.watch`'s
Recorder: the gradients measured after each of its evaluations, not before the step computed them.

# NOTE [closure steps]
# An optimizer that takes a closure (LBFGS, SAM-style two-pass steps, any step(closure)) computes the
# gradients inside step(), after the step pre-hook: reading .grad there would read the previous step's
# (or None at step 0). So when the pre-hook sees a closure among step()'s arguments, it hands step() a
# wrapper of it for that call only (a step pre-hook may return new args): the wrapper runs the closure and
# then measures the gradients, and the post-hook records the row. Nothing depends on the optimizer's class.
# A step may evaluate its closure several times (LBFGS: up to max_iter times, more with a line search;
# SAM: at w, then at w + e). The row holds the LAST evaluation: it is what the update that ends the step
# was computed from in a two-pass step (SAM's base step uses the gradient at w + e; the first pass only
# finds e), it is what .grad holds when step() returns, so what a manual mon.step() after the update, the
# Trainer and Lightning callbacks and the user's own `p.grad.norm()` after step() read, and with LBFGS's
# max_iter=1 (the stochastic setting) it is the only one. Each evaluation is measured on the device
# (one _foreach_norm, no host copy); an earlier one's norms are dropped when the next starts.
# The weight norms and the update are still measured across the whole step (before and after step()).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gradviz.capture._step_norms import Group, Part

__all__ = ["ClosureSteps", "OpenStep", "closure_of", "with_closure"]


@dataclass
class OpenStep:
    """The optimizer step between its pre- and post-hook (kept if ``step()`` raises)."""

    step: int
    groups: list[Group] | None  # the layout of a weight step (None: the gradients' own layout)
    weights: list[tuple[Sequence[torch.Tensor], list[int]]]  # per group: weight norms, positions snapshotted
    parts: list[Part] | None  # the gradients' norms (None: a closure step not evaluated yet)


class ClosureSteps:
    """Mixed into the Recorder: the closure it hands ``step()`` (NOTE [closure steps])."""

    _open: OpenStep | None

    def _measure_open(self, open_: OpenStep) -> list[Part]:
        raise NotImplementedError  # the Recorder's

    def _failed(self, internal: Exception, stage: str, running: Any = None) -> None:
        raise NotImplementedError  # the Recorder's

    def _evaluating(self, open_: OpenStep, closure: Callable[..., Any]) -> Callable[..., Any]:
        """``closure``, measuring the gradients after each evaluation (NOTE [closure steps])."""

        def evaluate(*args: Any, **kwargs: Any) -> Any:
            if self._open is not open_:  # called after its step() ended: nothing to record
                return closure(*args, **kwargs)
            open_.parts = None  # an earlier evaluation's gradients are not kept alive through this one
            try:
                result = closure(*args, **kwargs)
            except BaseException:
                # keep what its backward computed (a closure raising on a bad loss); the error is the user's
                with contextlib.suppress(Exception):
                    self._measured(open_)
                raise
            try:
                self._measured(open_)
            except Exception as internal:  # NOTE [fail-safe]: the closure's result goes back untouched
                self._failed(internal, "closure step")
            return result

        return evaluate

    def _measured(self, open_: OpenStep) -> None:
        if self._open is open_:
            with torch.no_grad():
                open_.parts = self._measure_open(open_)


def closure_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[..., Any] | None:
    """The closure ``optimizer.step`` was called with, if any (``args[0]`` is the optimizer itself)."""
    found = args[1] if len(args) > 1 else kwargs.get("closure")
    return found if callable(found) and not isinstance(found, torch.Tensor) else None


def with_closure(
    args: tuple[Any, ...], kwargs: dict[str, Any], closure: Callable[..., Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``step()``'s arguments with its closure replaced (where it was given: positionally or by name)."""
    if len(args) > 1:
        return (args[0], closure, *args[2:]), kwargs
    return args, {**kwargs, "closure": closure}
