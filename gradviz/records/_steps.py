"""Rows of a History as a watched run records them, in bounded memory."""

from __future__ import annotations

import numpy as np

from gradviz.records._history import ARRAYS, History
from gradviz.records._state import GradState

__all__ = ["StepBuffer"]

_NONFINITE = int(GradState.nonfinite)


class StepBuffer:
    """Rows of a History as they are recorded, in bounded memory.

    With ``max_steps`` set, at most that many rows are kept: when the buffer is full, every other row is
    dropped and from then on only every 2nd (then 4th, 8th, ...) recorded step is kept. The history always
    spans the whole run, at a resolution that halves each time it fills. Memory: ``max_steps`` x params
    x 13 bytes. ``max_steps=None`` keeps every row (memory grows with the run).

    ``capacity``: rows allocated at once (default: 64, or ``max_steps`` if fewer); 0 allocates nothing
    before the first row (a reader that must not trust a header's parameter count).
    """

    def __init__(
        self,
        names: list[str],
        max_steps: int | None,
        every: int = 1,
        weights_every: int | None = None,
        *,
        capacity: int = 64,
    ) -> None:
        self.names = list(names)
        self.max_steps = max_steps
        self.every = every
        self.weights_every = weights_every
        self.stride = 1
        self.n = 0
        self.seen = 0  # recorded steps offered, kept or not
        self.first_nonfinite: tuple[int, str] | None = None
        self._steps, self._rows = self._new_rows(
            min(max_steps, capacity) if max_steps is not None else capacity
        )

    def _new_rows(self, capacity: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        p = len(self.names)
        rows = {key: np.full((capacity, p), np.nan, np.float32) for key in ARRAYS}
        rows["state"] = np.zeros((capacity, p), np.uint8)
        return np.zeros(capacity, np.int64), rows

    def _grow(self, rows: int = 0) -> None:
        """Double the capacity (to at least ``rows`` more than are kept), up to ``max_steps``."""
        capacity = max(2 * len(self._steps), self.n + max(rows, 1))
        if self.max_steps is not None:
            capacity = min(capacity, self.max_steps)
        steps, columns = self._new_rows(capacity)
        steps[: self.n] = self._steps[: self.n]
        for key, arr in self._rows.items():
            columns[key][: self.n] = arr[: self.n]
        self._steps, self._rows = steps, columns

    def append(
        self,
        step: int,
        grad_norm: np.ndarray,
        state: np.ndarray,
        param_norm: np.ndarray | None = None,
        update_ratio: np.ndarray | None = None,
        *,
        clean: bool = False,
    ) -> None:
        """Offer the row of a recorded step (weights left NaN when not measured).

        ``clean``: the caller knows no state is non-finite (spares a scan on the common path).
        """
        if not clean and self.first_nonfinite is None and (state == _NONFINITE).any():
            self.first_nonfinite = (step, self.names[int(np.argmax(state == _NONFINITE))])
        index = self.seen
        self.seen += 1
        if index % self.stride:
            return
        if self.n == len(self._steps):
            if self.max_steps is None or self.n < self.max_steps:
                self._grow()
            else:
                self._halve()
                if index % self.stride:
                    return
        row = self.n
        self._steps[row] = step
        self._rows["grad_norm"][row] = grad_norm
        self._rows["state"][row] = state
        if param_norm is not None:
            self._rows["param_norm"][row] = param_norm
        if update_ratio is not None:
            self._rows["update_ratio"][row] = update_ratio
        self.n += 1

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` more rows in one allocation (when many are about to be offered), up to
        ``max_steps``."""
        full = self.max_steps is not None and len(self._steps) >= self.max_steps
        if self.n + rows > len(self._steps) and not full:
            self._grow(rows)

    def extend(
        self,
        steps: np.ndarray,
        grad_norm: np.ndarray,
        state: np.ndarray,
        param_norm: np.ndarray | None = None,
        update_ratio: np.ndarray | None = None,
    ) -> None:
        """Offer many rows at once (``[rows]`` steps, ``[rows, params]`` arrays): the same rows are kept as
        by :meth:`append` one at a time, with a few numpy calls per batch instead of one per row."""
        count = len(steps)
        if self.first_nonfinite is None and count:
            bad = state == _NONFINITE
            bad_rows = np.flatnonzero(bad.any(axis=1))
            if len(bad_rows):
                row = bad_rows[0]
                self.first_nonfinite = (int(steps[row]), self.names[int(np.argmax(bad[row]))])
            del bad
        i = 0  # rows before i are offered already
        while i < count:
            first = i + (-self.seen) % self.stride  # the next row this stride keeps
            if first >= count:
                self.seen += count - i
                return
            if self.n == len(self._steps):
                if self.max_steps is None or self.n < self.max_steps:
                    self._grow()
                else:
                    self._halve()  # the stride doubles: rows it no longer keeps are skipped below
                continue
            self.seen += first - i
            take = min(len(self._steps) - self.n, (count - first - 1) // self.stride + 1)
            rows = slice(first, first + (take - 1) * self.stride + 1, self.stride)
            dst = slice(self.n, self.n + take)
            self._steps[dst] = steps[rows]
            self._rows["grad_norm"][dst] = grad_norm[rows]
            self._rows["state"][dst] = state[rows]
            if param_norm is not None:
                self._rows["param_norm"][dst] = param_norm[rows]
            if update_ratio is not None:
                self._rows["update_ratio"][dst] = update_ratio[rows]
            self.n += take
            i = rows.stop
            self.seen += 1 + (take - 1) * self.stride

    def _halve(self) -> None:
        kept = (self.n + 1) // 2
        self._steps[:kept] = self._steps[: self.n : 2].copy()
        for key, arr in self._rows.items():
            arr[:kept] = arr[: self.n : 2].copy()
            arr[kept:] = 0 if key == "state" else np.nan
        self.n = kept
        self.stride *= 2

    def history(self) -> History:
        return History(
            steps=self._steps[: self.n].copy(),
            names=list(self.names),
            grad_norm=self._rows["grad_norm"][: self.n].copy(),
            param_norm=self._rows["param_norm"][: self.n].copy(),
            update_ratio=self._rows["update_ratio"][: self.n].copy(),
            state=self._rows["state"][: self.n].copy(),
            first_nonfinite=self.first_nonfinite,
            every=self.every,
            weights_every=self.weights_every,
            stride=self.stride,
        )
