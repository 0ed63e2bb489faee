"""What a backward call changes of the targets' ``.grad`` bookkeeping besides what it delivers: a clear
before it (counted afresh), a hook that stepped the weights during it (the gradient was used, or consumed),
and each delivery added to what the trace's backwards delivered before (NOTE [delivered, not reached] in
``_backward``)."""

from __future__ import annotations

from typing import Protocol

import torch

from gradviz.capture import _graph
from gradviz.capture._arrivals import combine, grad_of
from gradviz.capture._targets import Watched
from gradviz.records import Capture, GradState

__all__ = ["GradBook"]


class _Holds(Protocol):
    cap: Capture
    watched: list[Watched]


class GradBook:
    """Mixed into BackwardCalls: the targets' delivery records across one backward call."""

    s: _Holds
    _stepped: dict[int, tuple[int, torch.Tensor]]  # see _steppable

    def _steppable(self, walk: _graph.Walk) -> dict[int, tuple[int, torch.Tensor]]:
        """Targets whose accumulator this walk cannot hook (a reentrant checkpoint builds it during backward)
        and that a post-accumulate-grad hook may step: their version and values before backward, to tell
        afterwards whether a hook consumed a gradient (few tensors; a copy each)."""
        found = {}
        for w in self.s.watched:
            t = w.tensor
            if w.target.index not in walk.accumulators and getattr(t, "_post_accumulate_grad_hooks", None):
                with torch.no_grad():
                    found[w.target.index] = (t._version, t.detach().clone())
        return found

    def _consumed_unseen(self) -> None:
        """A target seen by no hook whose weights a hook changed during backward while its .grad stayed
        None: a gradient arrived and was consumed (NOTE [delivered, not reached]); its state is read from
        the update (NaN weights: a NaN gradient; unchanged: zero)."""
        for index, (version, old) in self._stepped.items():
            w = self.s.watched[index]
            if grad_of(w.tensor) is not None or w.tensor._version == version:
                continue
            with torch.no_grad():
                new = w.tensor.detach()
                if not bool(torch.isfinite(new).all()):
                    state = GradState.nonfinite
                else:
                    state = GradState.zero if torch.equal(new, old) else GradState.finite
            w.target.consumed = True
            self._deliver(w.target, state, None)
        self._stepped = {}

    def _cleared_before(self) -> dict[int, tuple[GradState, float | None]]:
        """Targets a clear (``zero_grad()``, ``p.grad = None``) emptied since the last backward delivered to
        them: their ``.grad`` now holds only what comes next, so what this backward delivers is counted
        afresh, not added to what was cleared. Returns what they had, to put back if nothing comes."""
        cleared = 0
        for clear in self.s.cap.clears:
            cleared |= clear.targets
        saved: dict[int, tuple[GradState, float | None]] = {}
        if cleared:
            for w in self.s.watched:
                t = w.target
                if cleared >> t.index & 1 and t.delivered != GradState.none:
                    saved[t.index] = (t.delivered, t.delivered_norm)
                    t.delivered, t.delivered_norm = GradState.none, None
        return saved

    def _stepped_during(self, versions: list[int]) -> None:
        """A target this backward delivered to whose weights a hook changed during it (an optimizer step
        fused into backward): a step read the gradient, whatever .grad holds afterwards."""
        for w, version in zip(self.s.watched, versions, strict=True):
            t = w.target
            if w.tensor._version != version and t.delivered != GradState.none and not t.consumed:
                t.stepped = True

    def _refilled(self, saved: dict[int, tuple[GradState, float | None]], clears_before: int) -> None:
        """After the walk: a cleared target this backward delivered to (even if it then raised) is explained
        by this delivery, not by the clear before it; one it did not deliver to keeps what it had."""
        got = 0
        for index, (delivered, norm) in saved.items():
            t = self.s.cap.targets[index]
            if t.delivered == GradState.none:
                t.delivered, t.delivered_norm = delivered, norm
            else:
                got |= 1 << index
        if got:
            for clear in self.s.cap.clears[:clears_before]:
                clear.targets &= ~got

    @staticmethod
    def _deliver(target, state: GradState, norm: float | None) -> None:
        target.stepped = False  # a new gradient: no step has read it yet
        if state != GradState.none:  # the backward reached it, if not through the graph walked before it
            target.reached = True  # (a reentrant checkpoint's inner graph is made during the backward)
        if target.delivered == GradState.none or state == GradState.nonfinite:
            target.delivered_norm = norm
        target.delivered = combine(target.delivered, state)
