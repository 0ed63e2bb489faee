"""Writes a run directory as a watched run records it (the format: ``gradviz/runlog/_format.py``)."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import math
import os
import time
import warnings
import zlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from gradviz.records import GradState, Headroom, StepBuffer
from gradviz.runlog._format import (
    END_STEP,
    FORENSICS,
    FORMAT,
    GRADS,
    GRAPH,
    HEADER,
    HEADROOM,
    MAX_STEP,
    VERSION,
    WEIGHTS,
    grads_dtype,
    weights_dtype,
)
from gradviz.runlog._header import check_header

__all__ = ["HEADROOM_SECS", "LoggedSteps", "RunWriter"]

HEADROOM_SECS = 10.0  # headroom.json is rewritten at most this often (and at close)


def b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _write_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file, fsync'd, renamed over it; removed on failure."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # platforms without directory fds
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class RunWriter:
    """Appends the rows of one watched run to ``log_dir`` (see the module docstring for the format).

    Creating it raises ``OSError`` when the directory cannot be written (and ``FileExistsError`` when it
    already holds a run). After that no method raises ``OSError``: a failed write warns once and stops the
    records (``stopped`` says why), a failed ``graph.json`` is left out.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        names: list[str],
        *,
        every: int = 1,
        weights_every: int | None = None,
        model: str = "",
        optimizer: str | None = None,
        rank: int = 0,
        world_size: int = 1,
        flush_secs: float = 5.0,
    ) -> None:
        if not (isinstance(flush_secs, int | float) and math.isfinite(flush_secs) and flush_secs >= 0):
            raise ValueError(f"flush_secs must be a number of seconds >= 0, got {flush_secs!r}.")
        self.path = Path(log_dir)
        self.names = list(names)
        self.flush_secs = float(flush_secs)
        self.stopped: str | None = None  # why records are no longer written (a write error), or None
        self._unwritten: set[str] = set()  # the JSON files a write failed for (warned once; not tried again)
        self._headroom_at: float | None = None  # when headroom.json was last written (monotonic)
        p = len(self.names)
        self._grads_dtype, self._weights_dtype = grads_dtype(p), weights_dtype(p)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "names": self.names,
            "every": int(every),
            "weights_every": None if weights_every is None else int(weights_every),
            "model": model,
            "optimizer": optimizer,
            "rank": int(rank),
            "world_size": int(world_size),
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "grads": {"file": GRADS, "record_bytes": self._grads_dtype.itemsize},
            "weights": {"file": WEIGHTS, "record_bytes": self._weights_dtype.itemsize},
        }
        try:  # never a header its reader refuses (e.g. weights_every=0)
            check_header(json.dumps(header).encode(), os.fspath(self.path))
        except ValueError as e:
            raise ValueError(f"not writing a run gradviz could not read: {e}") from None
        self.path.mkdir(parents=True, exist_ok=True)
        if (self.path / HEADER).exists():
            raise FileExistsError(
                f"{os.fspath(self.path)!r} already holds a recorded run (it has a {HEADER}); give "
                "watch() a new log_dir (e.g. runs/exp2), or delete the old run first."
            )
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_BINARY", 0)
        self._grads = self._weights = -1
        try:
            self._grads = os.open(self.path / GRADS, flags, 0o644)
            self._weights = os.open(self.path / WEIGHTS, flags, 0o644)
            _write_atomic(self.path / HEADER, json.dumps(header, indent=1))
        except FileExistsError:
            self._abandon()
            raise FileExistsError(
                f"{os.fspath(self.path)!r} already holds record files of a run that never started "
                f"({GRADS}, {WEIGHTS} without {HEADER}); give watch() a new log_dir or delete them."
            ) from None
        except BaseException:
            self._abandon()
            raise
        self._dirty = False
        self._last_sync = time.monotonic()
        self.records = 0
        self.bytes_written = 0

    def _abandon(self) -> None:
        """Undo a start that failed: close and delete the record files this writer created (empty)."""
        for fd, name in ((self._grads, GRADS), (self._weights, WEIGHTS)):
            if fd >= 0:
                os.close(fd)
                with contextlib.suppress(OSError):
                    (self.path / name).unlink()
        self._grads = self._weights = -1

    @property
    def closed(self) -> bool:
        """No more records are written: closed, or stopped by a write error."""
        return self._grads < 0

    def append(
        self,
        step: int,
        grad_norm: np.ndarray,
        state: np.ndarray,
        param_norm: np.ndarray | None = None,
        update_ratio: np.ndarray | None = None,
    ) -> None:
        """Append the row of one recorded step (a weights record too when either weight array is given)."""
        if self.closed:
            if self.stopped is not None:
                return
            raise RuntimeError(f"the run log {os.fspath(self.path)!r} is closed.")
        _check_row(step, grad_norm, state, param_norm, update_ratio)
        try:
            if param_norm is not None or update_ratio is not None:
                rec = np.zeros((), self._weights_dtype)
                rec["step"] = step
                rec["param_norm"] = np.nan if param_norm is None else param_norm
                rec["update_ratio"] = np.nan if update_ratio is None else update_ratio
                self._write(self._weights, rec)
            rec = np.zeros((), self._grads_dtype)
            rec["step"] = step
            rec["state"] = state
            rec["grad_norm"] = grad_norm
            self._write(self._grads, rec)
            self.records += 1
            if time.monotonic() - self._last_sync >= self.flush_secs:
                self._sync()
        except OSError as e:
            self._stop(e, f"at step {step}")

    def _write(self, fd: int, rec: np.ndarray) -> None:
        body = rec.tobytes()[:-4]
        data = body + zlib.crc32(body).to_bytes(4, "little")
        view = memoryview(data)
        while view:  # a regular file takes it in one write; loop in case a signal cuts it short
            view = view[os.write(fd, view) :]
        self.bytes_written += len(data)
        self._dirty = True

    def _sync(self) -> None:
        if self._dirty:
            os.fsync(self._weights)
            os.fsync(self._grads)
            self._dirty = False
        self._last_sync = time.monotonic()

    def flush(self) -> None:
        """fsync both record files (done every ``flush_secs`` seconds by :meth:`append`, and on close)."""
        if self.closed:
            return
        try:
            self._sync()
        except OSError as e:
            self._stop(e, f"after {self.records} steps")

    def _stop(self, error: OSError, when: str) -> None:
        """A write failed: stop writing records, keep what is written, say so once."""
        self.stopped = f"{when}: {error}"
        with contextlib.suppress(OSError):  # mark the end, if the disk still takes 12 + 5P bytes
            self._write(self._grads, _end(self._grads_dtype))
        for fd in (self._grads, self._weights):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._grads = self._weights = -1
        warnings.warn(
            f"gradviz stopped writing {os.fspath(self.path)!r} {self.stopped}. The steps written before "
            "are intact; the monitor keeps recording in memory and training goes on.",
            RuntimeWarning,
            stacklevel=3,
        )

    def write_graph(self, graph: dict, edge_norms: bytes = b"", hists: bytes = b"") -> None:
        """Store the graph of the first backward, as ``build_state`` gives it (JSON; the buffers base64).

        A failure (full disk, read-only directory) leaves the run without ``graph.json`` and warns once.
        """
        if GRAPH in self._unwritten:
            return
        data = {"graph": graph, "edge_norms": b64(edge_norms), "hists": b64(hists)}
        self._write_json(GRAPH, data, "its graph", strict=False)

    def write_forensics(self, record: dict, replay: tuple[dict, bytes, bytes] | None = None) -> None:
        """Store the first NaN/Inf step (``forensics.json``): ``record`` holds its plain data (step,
        parameters, reason, from_loss, birth, view), ``replay`` the replayed graph's state (None: no replay).

        A failure (full disk, read-only directory, a value JSON cannot hold) leaves the run without
        ``forensics.json`` and warns once; training goes on.
        """
        if FORENSICS in self._unwritten:
            return
        data = {**record, "replay": None}
        if replay is not None:
            graph, edge_norms, hists = replay
            data["replay"] = {"graph": graph, "edge_norms": b64(edge_norms), "hists": b64(hists)}
        self._write_json(FORENSICS, data, "where its first NaN/Inf was born")

    def headroom_due(self) -> bool:
        """Time to rewrite ``headroom.json``: never written yet, or HEADROOM_SECS ago (never once a write
        failed, or the records stopped: the disk said no)."""
        at = self._headroom_at
        if HEADROOM in self._unwritten or self.stopped is not None:
            return False
        return at is None or time.monotonic() - at >= HEADROOM_SECS

    def write_headroom(
        self, records: list[Headroom], steps: list[int], names: list[str], bits: np.ndarray
    ) -> None:
        """Store the run's precision headroom (``headroom.json``, rewritten whole): the latest ``records``,
        and the headroom in bits of parameters ``names`` (at most 16) at the recorded ``steps`` kept
        (``bits``: ``[len(steps), len(names)]``).

        A failure (full disk, read-only directory) leaves the last ``headroom.json`` written (or none) and
        warns once; training goes on. Nothing is written once the records stopped (a write error, said).
        """
        if HEADROOM in self._unwritten or self.stopped is not None:
            return
        self._headroom_at = time.monotonic()
        table = np.asarray(bits, "<f4").reshape(len(steps), len(names))
        data = {
            "step": max((int(r.step) for r in records), default=-1),
            "records": [{f.name: _wire(getattr(r, f.name)) for f in dataclasses.fields(r)} for r in records],
            "series": {"names": list(names), "steps": [int(s) for s in steps], "bits": b64(table.tobytes())},
        }
        self._write_json(HEADROOM, data, "its precision headroom")

    def _write_json(self, name: str, data: dict, what: str, strict: bool = True) -> None:
        """Write ``data`` to the JSON file ``name`` atomically. A failure (full disk, read-only directory;
        with ``strict``, a value JSON cannot hold: NaN, a type) warns once, saying the run is recorded
        without ``what``, and the file is not tried again; training goes on."""
        caught: tuple[type[Exception], ...] = (OSError, ValueError, TypeError) if strict else (OSError,)
        try:
            _write_atomic(self.path / name, json.dumps(data, separators=(",", ":"), allow_nan=not strict))
        except caught as e:
            self._unwritten.add(name)
            warnings.warn(
                f"gradviz could not write {os.fspath(self.path / name)!r}: {e}. The run is recorded "
                f"without {what}; training goes on.",
                RuntimeWarning,
                stacklevel=4,
            )

    def close(self) -> None:
        """Append the end record, fsync and close. Safe to call twice."""
        if self.closed:
            return
        try:
            self._write(self._grads, _end(self._grads_dtype))
            self._sync()
        except OSError as e:
            self._stop(e, "on close")
        finally:
            for fd in (self._grads, self._weights):
                if fd >= 0:
                    os.close(fd)
            self._grads = self._weights = -1


def _wire(value: object) -> object:
    """A float as JSON holds it: NaN and the infinities as the strings "nan", "inf", "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _end(dtype: np.dtype) -> np.ndarray:
    """The record that marks a run closed cleanly: step -1, everything else zero."""
    end = np.zeros((), dtype)
    end["step"] = END_STEP
    return end


class LoggedSteps(StepBuffer):
    """The rows of a running ``watch``: kept in memory (``keep``) and appended to a :class:`RunWriter`.

    ``keep=False`` (a rank that does not record, but must take part in the collectives of sharded norms)
    keeps no row.
    """

    def __init__(
        self,
        names: list[str],
        max_steps: int | None,
        every: int = 1,
        weights_every: int | None = None,
        *,
        writer: RunWriter | None = None,
        keep: bool = True,
    ) -> None:
        super().__init__(names, max_steps, every, weights_every)
        self.writer = writer
        self.keep = keep

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
        if self.writer is not None and not self.writer.closed:
            self.writer.append(step, grad_norm, state, param_norm, update_ratio)  # never raises OSError
        if self.keep:
            super().append(step, grad_norm, state, param_norm, update_ratio, clean=clean)


def _check_row(step: int, grad_norm: np.ndarray, state: np.ndarray, *weights: np.ndarray | None) -> None:
    """Refuse a row no reader would take back (NOTE [a record gradviz wrote] in _scan.py): it would be read
    as damage, and silently lost."""
    if not 0 <= step < MAX_STEP:
        raise ValueError(f"a step is in [0, 2**48); got {step}.")
    states = np.asarray(state)
    if states.size and (states.min() < 0 or states.max() > max(GradState)):
        raise ValueError(f"a state is a GradState (0-{int(max(GradState))}); got {states.tolist()}.")
    for name, values in (("grad_norm", grad_norm), ("param_norm", weights[0]), ("update_ratio", weights[1])):
        if values is not None and np.any(np.asarray(values) < 0):
            raise ValueError(f"{name} is a norm or a ratio of norms, never below zero; got {values}.")
