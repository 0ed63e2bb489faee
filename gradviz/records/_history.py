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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np

__all__ = ["FORMAT_VERSION", "History"]

FORMAT_VERSION = 1
ARRAYS = ("grad_norm", "param_norm", "update_ratio")


class _Exporters:
    """Writers of a History in other tools' formats.

    # NOTE [exporters are wired from above]
    # The ground floor imports no other layer of gradviz, so History cannot import its TensorBoard writer
    # (gradviz.integrations.tensorboard). The package façade (gradviz/__init__.py) hands it in when gradviz
    # is imported, which Python always does before any submodule: ``History.to_tensorboard`` always works.
    """

    tensorboard: Callable[[History, str | os.PathLike[str]], os.PathLike[str]] | None = None


_EXPORTERS = _Exporters()


def wire_exporters(*, tensorboard: Callable[[History, str | os.PathLike[str]], os.PathLike[str]]) -> None:
    _EXPORTERS.tensorboard = tensorboard


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
        for key in ARRAYS:
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
        arrays = {key: getattr(self, key) for key in ARRAYS}
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
        if _EXPORTERS.tensorboard is None:
            raise RuntimeError(
                "no TensorBoard exporter is wired in: import gradviz, not gradviz.records alone"
            )
        return _EXPORTERS.tensorboard(self, log_dir)

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
        for key in (*ARRAYS, "state"):
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
    *ARRAYS,
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


def _npy_header(f: IO[bytes], filename: str) -> tuple[tuple[int, ...], np.dtype]:
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
