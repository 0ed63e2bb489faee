"""The per-step record of a :func:`gradviz.watch` run, as plain numpy data.

A :class:`History` holds no torch object: it saves to a ``.npz`` file (no pickle) and loads in a notebook
where the model never existed.

>>> h = History.empty(["enc.weight", "enc.bias"])
>>> h
<History 0 steps x 2 parameters>
"""

from __future__ import annotations

import contextlib
import math
import os
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import BinaryIO

import numpy as np

__all__ = ["FORMAT_VERSION", "GradState", "History", "StepBuffer"]

FORMAT_VERSION = 1
_ARRAYS = ("grad_norm", "param_norm", "update_ratio")


class GradState(IntEnum):
    """What ``.grad`` held at a step. Kept apart from the norm, so "no gradient" and NaN never mix."""

    none = 0  # .grad was None
    zero = 1  # exactly zero everywhere
    finite = 2  # finite and not all zero
    nonfinite = 3  # some element is NaN or Inf


_NONFINITE = int(GradState.nonfinite)


@dataclass(eq=False)
class History:
    """Per-step gradient health of the watched parameters.

    Rows are recorded steps (``steps``, int64, counted from 0 at ``watch()``), columns are ``names``.

    - ``grad_norm`` [steps, params] float32: L2 norm of ``.grad`` at the optimizer step (the sum of all
      backward passes since the last step); NaN where ``.grad`` was None — read ``state`` to tell that
      apart from a NaN gradient.
    - ``param_norm`` float32: L2 norm of the weights the gradient was computed at (before the update);
      measured on weight steps only (every ``weights_every``-th recorded step), NaN on the other rows.
    - ``update_ratio`` float32: ``‖w_after - w_before‖ / ‖w_before‖`` across the update, on weight steps;
      NaN where no update was measured (other rows, a parameter the optimizer does not hold, a step that
      raised).
    - ``state`` uint8: a :class:`GradState` per cell.
    - ``first_nonfinite``: ``(step, name)`` of the first non-finite gradient seen, or None. It is kept even
      when that row was later dropped by downsampling.
    - ``every``: a step was recorded when ``step % every == 0``; ``weights_every``: every how many
      recorded steps the weights were measured (None: never); ``stride``: after downsampling, only every
      ``stride``-th recorded step is kept.
    """

    steps: np.ndarray
    names: list[str]
    grad_norm: np.ndarray
    param_norm: np.ndarray
    update_ratio: np.ndarray
    state: np.ndarray
    first_nonfinite: tuple[int, str] | None = None
    every: int = 1
    weights_every: int | None = None
    stride: int = 1

    def __post_init__(self) -> None:
        self.names = [str(n) for n in self.names]
        self.steps = np.asarray(self.steps, dtype=np.int64).reshape(-1)
        shape = (len(self.steps), len(self.names))
        for key in _ARRAYS:
            setattr(self, key, np.asarray(getattr(self, key), dtype=np.float32).reshape(shape))
        self.state = np.asarray(self.state, dtype=np.uint8).reshape(shape)
        if self.first_nonfinite is not None:
            step, name = self.first_nonfinite
            self.first_nonfinite = (int(step), str(name))

    @classmethod
    def empty(cls, names: list[str]) -> History:
        nan = np.empty((0, len(names)), np.float32)
        return cls(np.empty(0, np.int64), list(names), nan, nan, nan, np.empty((0, len(names)), np.uint8))

    def __len__(self) -> int:
        return len(self.steps)

    def index(self, name: str) -> int:
        """Column of parameter ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"{name!r} is not a watched parameter") from None

    def __repr__(self) -> str:
        span = f", steps {self.steps[0]}..{self.steps[-1]}" if len(self) else ""
        bad = ""
        if self.first_nonfinite is not None:
            bad = f", first non-finite gradient: step {self.first_nonfinite[0]} {self.first_nonfinite[1]}"
        return f"<History {len(self)} steps x {len(self.names)} parameters{span}{bad}>"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to ``path`` exactly (a ``.npz`` archive; numpy would otherwise append ``.npz``)."""
        step, name = self.first_nonfinite if self.first_nonfinite is not None else (-1, "")
        arrays = {key: getattr(self, key) for key in _ARRAYS}
        with open(path, "wb") as f:
            np.savez_compressed(
                f,
                format_version=np.int64(FORMAT_VERSION),
                steps=self.steps,
                names=np.array(self.names, dtype=np.str_).reshape(len(self.names)),
                state=self.state,
                first_nonfinite_step=np.int64(step),
                first_nonfinite_name=np.str_(name),
                every=np.int64(self.every),
                weights_every=np.int64(-1 if self.weights_every is None else self.weights_every),
                stride=np.int64(self.stride),
                **arrays,
            )

    def to_tensorboard(self, log_dir: str | os.PathLike[str]) -> os.PathLike[str]:
        """Write these steps as TensorBoard scalars into ``log_dir`` (needs the tensorboard package).

        Tags and details: :mod:`gradviz.integrations.tensorboard`.
        """
        from gradviz.integrations.tensorboard import write_history

        return write_history(self, log_dir)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, max_bytes: int = 1 << 30) -> History:
        """Read a file written by :meth:`save` (never unpickles anything).

        The file may come from anyone: the size of every array is read from its header before it is
        loaded, and an archive whose arrays would take more than ``max_bytes`` of memory in all (1 GiB by
        default; a saved history takes 13 bytes per parameter per row) is refused with a ValueError.
        """
        _check_limit(max_bytes)
        arrays = _read_npz(path, max_bytes)
        where = os.fspath(path)
        version = _scalar(arrays, "format_version", where) if "format_version" in arrays else None
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{where!r} is not a gradviz history of format {FORMAT_VERSION} "
                f"(found format {version}); save it again with this version of gradviz."
            )
        missing = [key for key in _SAVED if key not in arrays]
        if missing:
            raise ValueError(f"{where!r} is not a complete gradviz history: no {', '.join(missing)} array.")
        names, steps = arrays["names"], arrays["steps"]
        if names.ndim != 1 or names.dtype.kind != "U" or steps.ndim != 1 or steps.dtype.kind not in "iu":
            raise ValueError(
                f"{where!r}: expected names as a 1-d array of str and steps as a 1-d array of int, got "
                f"{names.dtype} {names.shape} and {steps.dtype} {steps.shape}."
            )
        shape = (len(steps), len(names))
        for key in (*_ARRAYS, "state"):
            if arrays[key].shape != shape or arrays[key].dtype.kind not in "fiu":
                raise ValueError(
                    f"{where!r}: {key} should be a [steps, names] {shape} array of numbers, got "
                    f"{arrays[key].dtype} {arrays[key].shape}."
                )
        step = _scalar(arrays, "first_nonfinite_step", where)
        weights_every = _scalar(arrays, "weights_every", where)
        name = arrays["first_nonfinite_name"]
        if name.shape != () or name.dtype.kind != "U":
            raise ValueError(
                f"{where!r}: first_nonfinite_name should be one str, got {name.dtype} {name.shape}."
            )
        return cls(
            steps=steps,
            names=names.tolist(),
            grad_norm=arrays["grad_norm"],
            param_norm=arrays["param_norm"],
            update_ratio=arrays["update_ratio"],
            state=arrays["state"],
            first_nonfinite=None if step < 0 else (step, str(name)),
            every=_scalar(arrays, "every", where),
            weights_every=None if weights_every < 0 else weights_every,
            stride=_scalar(arrays, "stride", where),
        )


_SAVED = (
    "steps",
    "names",
    "state",
    "first_nonfinite_step",
    "first_nonfinite_name",
    "every",
    "weights_every",
    "stride",
    *_ARRAYS,
)


def _check_limit(max_bytes: object) -> None:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise ValueError(f"max_bytes must be an int >= 0 (bytes of memory), got {max_bytes!r}.")


def _read_npz(path: str | os.PathLike[str], max_bytes: int) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz`` archive, refusing it before any array is loaded if their headers say they
    would take more than ``max_bytes`` in all. Only ``.npy`` members of plain dtypes are read."""
    where = os.fspath(path)
    with _unreadable(where):
        archive = zipfile.ZipFile(path)
    with archive:
        shapes: dict[str, tuple[int, ...]] = {}
        total = 0
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with _unreadable(where), archive.open(info) as f:
                shape, dtype = _npy_header(f, info.filename)
            if dtype.hasobject:
                raise ValueError(f"{where!r}: array {info.filename!r} holds Python objects; refusing it.")
            size = math.prod(shape) * dtype.itemsize
            total += size
            if total > max_bytes or info.file_size > max_bytes:
                raise ValueError(
                    f"{where!r}: its arrays would take more than {max_bytes:,} bytes of memory "
                    f"({info.filename!r} alone {size:,}); refusing to load it. A history this large was not "
                    "saved by gradviz.watch's default max_steps; pass History.load(path, max_bytes=...) if "
                    "you trust the file."
                )
            shapes[info.filename] = shape
        arrays = {}
        for filename in shapes:
            with _unreadable(where), archive.open(filename) as f:
                arrays[filename[: -len(".npy")]] = np.lib.format.read_array(f, allow_pickle=False)
    return arrays


@contextlib.contextmanager
def _unreadable(where: str) -> Iterator[None]:
    """Errors of zipfile, zlib and numpy's .npy reader, as one ValueError that names the file."""
    try:
        yield
    except (ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"{where!r} is not a readable gradviz history (a .npz archive): {e}") from None


def _npy_header(f: BinaryIO, filename: str) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"array {filename!r} has .npy format {version}, not one gradviz writes")
    return shape, dtype


def _scalar(arrays: dict[str, np.ndarray], key: str, where: str) -> int:
    value = arrays[key]
    if value.shape != () or value.dtype.kind not in "iu":
        raise ValueError(f"{where!r}: {key} should be one int, got {value.dtype} {value.shape}.")
    return int(value)


class StepBuffer:
    """Rows of a History as they are recorded, in bounded memory.

    With ``max_steps`` set, at most that many rows are kept: when the buffer is full, every other row is
    dropped and from then on only every 2nd (then 4th, 8th, ...) recorded step is kept. The history always
    spans the whole run, at a resolution that halves each time it fills. Memory: ``max_steps`` x params
    x 13 bytes. ``max_steps=None`` keeps every row (memory grows with the run).
    """

    def __init__(
        self, names: list[str], max_steps: int | None, every: int = 1, weights_every: int | None = None
    ) -> None:
        self.names = list(names)
        self.max_steps = max_steps
        self.every = every
        self.weights_every = weights_every
        self.stride = 1
        self.n = 0
        self.seen = 0  # recorded steps offered, kept or not
        self.first_nonfinite: tuple[int, str] | None = None
        self._steps, self._rows = self._new_rows(min(max_steps, 64) if max_steps is not None else 64)

    def _new_rows(self, capacity: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        p = len(self.names)
        rows = {key: np.full((capacity, p), np.nan, np.float32) for key in _ARRAYS}
        rows["state"] = np.zeros((capacity, p), np.uint8)
        return np.zeros(capacity, np.int64), rows

    def _grow(self, rows: int = 0) -> None:
        """Double the capacity (to at least ``rows`` more than are kept), up to ``max_steps``."""
        capacity = max(2 * len(self._steps), self.n + rows)
        if self.max_steps is not None:
            capacity = min(capacity, self.max_steps)
        steps, rows = self._new_rows(capacity)
        steps[: self.n] = self._steps[: self.n]
        for key, arr in self._rows.items():
            rows[key][: self.n] = arr[: self.n]
        self._steps, self._rows = steps, rows

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
        """Make room for ``rows`` more rows in one allocation (when many are about to be offered)."""
        if self.max_steps is None and self.n + rows > len(self._steps):
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
            rows = np.flatnonzero(bad.any(axis=1))
            if len(rows):
                row = rows[0]
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
