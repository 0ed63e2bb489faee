"""A recorded run on disk: what ``gradviz.watch(..., log_dir=...)`` writes and ``gradviz.open`` reads.

Format ``gradviz-run`` version 1. A run directory holds::

    header.json    written once, atomically (temporary file, fsync, rename), before any record
    grads.bin      one record per recorded step, appended, never rewritten
    weights.bin    one record per weight step (every ``weights_every``-th recorded step), appended
    graph.json     optional: the autograd graph of the first backward pass, written once, atomically:
                   {"graph": {...}, "edge_norms": base64, "hists": base64} (gradviz/view/_state.py)
    rank<r>/       with ``watch(..., ranks="all")``: the same file set for each other rank that records

``header.json`` (UTF-8 JSON)::

    {"format": "gradviz-run", "version": 1, "names": ["enc.weight", ...], "every": 1,
     "weights_every": 100, "model": "GPT", "optimizer": "AdamW", "rank": 0, "world_size": 2,
     "created": "2025-01-31T12:00:00Z",
     "grads": {"file": "grads.bin", "record_bytes": 12 + 5P},
     "weights": {"file": "weights.bin", "record_bytes": 12 + 8P}}

Records are little-endian, unpadded, of a fixed size per file (P = ``len(names)``, columns in that order)::

    grads.bin    int64 step | uint8[P] state | float32[P] grad_norm                    | uint32 crc32
    weights.bin  int64 step | float32[P] param_norm | float32[P] update_ratio          | uint32 crc32

``step`` counts optimizer steps from 0 at ``watch()``; ``state`` is a :class:`~gradviz._history.GradState`
(0 ``.grad`` was None, 1 exactly zero, 2 finite, 3 NaN/Inf); a norm is NaN where it has no value;
``crc32`` is ``zlib.crc32`` of the record's bytes before it. A ``grads.bin`` record with step -1 (state and
norms zero) marks a run that closed cleanly. Every recorded step is kept (no downsampling on disk): 5 bytes
per parameter per step plus 12 per record; a weight step adds 8 bytes per parameter plus 12.

Crash safety. The writer appends each record with one ``write`` as it is recorded (a reader sees it at
once; a killed process loses nothing the kernel already has) and ``fsync``s every ``flush_secs`` seconds
and on close, so a machine crash loses at most the steps of the last interval. A reader takes whole
records only; it drops a trailing partial record and any record whose crc32 does not match (torn by a
crash, or the zero-filled tail a power loss can leave), so a file cut anywhere still reads up to its last
intact record. A record that fails its check at the very end of a file that is still being written is
read again on the next refresh.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import time
import warnings
import zlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from gradviz._history import GradState, History, StepBuffer

__all__ = [
    "FORMAT",
    "VERSION",
    "LoggedSteps",
    "RunReader",
    "RunWriter",
    "grads_dtype",
    "rank_dir",
    "weights_dtype",
]

FORMAT = "gradviz-run"
VERSION = 1
HEADER = "header.json"
GRAPH = "graph.json"
GRADS = "grads.bin"
WEIGHTS = "weights.bin"
END_STEP = -1
_NONFINITE = int(GradState.nonfinite)


def grads_dtype(p: int) -> np.dtype:
    """numpy layout of one ``grads.bin`` record for ``p`` parameters."""
    return np.dtype([("step", "<i8"), ("state", "u1", (p,)), ("grad_norm", "<f4", (p,)), ("crc", "<u4")])


def weights_dtype(p: int) -> np.dtype:
    """numpy layout of one ``weights.bin`` record for ``p`` parameters."""
    return np.dtype(
        [("step", "<i8"), ("param_norm", "<f4", (p,)), ("update_ratio", "<f4", (p,)), ("crc", "<u4")]
    )


def rank_dir(log_dir: str | os.PathLike[str], rank: int) -> Path:
    """Where ``rank`` writes: ``log_dir`` itself for rank 0, ``log_dir/rank<r>`` for the others."""
    return Path(log_dir) if rank == 0 else Path(log_dir) / f"rank{rank}"


def _b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # platforms without directory fds
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class RunWriter:
    """Appends the rows of one watched run to ``log_dir`` (see the module docstring for the format)."""

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
        p = len(self.names)
        self._grads_dtype, self._weights_dtype = grads_dtype(p), weights_dtype(p)
        self.path.mkdir(parents=True, exist_ok=True)
        if (self.path / HEADER).exists():
            raise FileExistsError(
                f"{os.fspath(self.path)!r} already holds a recorded run (it has a {HEADER}); give "
                "watch() a new log_dir (e.g. runs/exp2), or delete the old run first."
            )
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
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_BINARY", 0)
        self._grads = self._weights = -1
        try:
            self._grads = os.open(self.path / GRADS, flags, 0o644)
            self._weights = os.open(self.path / WEIGHTS, flags, 0o644)
        except FileExistsError:
            if self._grads >= 0:
                os.close(self._grads)
                self._grads = -1
            raise FileExistsError(
                f"{os.fspath(self.path)!r} already holds record files of a run that never started "
                f"({GRADS}, {WEIGHTS} without {HEADER}); give watch() a new log_dir or delete them."
            ) from None
        _write_atomic(self.path / HEADER, json.dumps(header, indent=1))
        self._dirty = False
        self._last_sync = time.monotonic()
        self.records = 0
        self.bytes_written = 0

    @property
    def closed(self) -> bool:
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
            raise RuntimeError(f"the run log {os.fspath(self.path)!r} is closed.")
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
            self.flush()

    def _write(self, fd: int, rec: np.ndarray) -> None:
        body = rec.tobytes()[:-4]
        data = body + zlib.crc32(body).to_bytes(4, "little")
        view = memoryview(data)
        while view:  # a regular file takes it in one write; loop in case a signal cuts it short
            view = view[os.write(fd, view) :]
        self.bytes_written += len(data)
        self._dirty = True

    def flush(self) -> None:
        """fsync both record files (done every ``flush_secs`` seconds by :meth:`append`, and on close)."""
        if self.closed:
            return
        if self._dirty:
            os.fsync(self._weights)
            os.fsync(self._grads)
            self._dirty = False
        self._last_sync = time.monotonic()

    def write_graph(self, graph: dict, edge_norms: bytes = b"", hists: bytes = b"") -> None:
        """Store the graph of the first backward, as ``build_state`` gives it (JSON; the buffers base64)."""
        data = {"graph": graph, "edge_norms": _b64(edge_norms), "hists": _b64(hists)}
        _write_atomic(self.path / GRAPH, json.dumps(data, separators=(",", ":")))

    def close(self) -> None:
        """Append the end record, fsync and close. Safe to call twice."""
        if self.closed:
            return
        end = np.zeros((), self._grads_dtype)
        end["step"] = END_STEP
        try:
            self._write(self._grads, end)
            self.flush()
        finally:
            os.close(self._grads)
            os.close(self._weights)
            self._grads = self._weights = -1


class RunReader:
    """Reads a run directory incrementally: :meth:`refresh` takes the records appended since the last call.

    Safe while the run is still being written, and on a run whose process died mid-write.
    """

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        self.path = Path(log_dir)
        header_path = self.path / HEADER
        if not header_path.exists():
            hint = ""
            ranks = sorted(p.name for p in self.path.glob("rank*") if (p / HEADER).exists())
            if ranks:
                hint = f" It holds runs of other ranks: {', '.join(ranks)}."
            raise FileNotFoundError(
                f"{os.fspath(self.path)!r} is not a recorded gradviz run (no {HEADER}); record one with "
                f"gradviz.watch(model, optimizer=opt, log_dir=...).{hint}"
            )
        self.header = json.loads(header_path.read_text(encoding="utf-8"))
        if self.header.get("format") != FORMAT or self.header.get("version") != VERSION:
            raise ValueError(
                f"{os.fspath(self.path)!r} holds format {self.header.get('format')!r} version "
                f"{self.header.get('version')!r}; this gradviz reads {FORMAT!r} version {VERSION}."
            )
        self.names: list[str] = list(self.header["names"])
        p = len(self.names)
        self._files = {
            "grads": (self.path / self.header["grads"]["file"], grads_dtype(p)),
            "weights": (self.path / self.header["weights"]["file"], weights_dtype(p)),
        }
        for key, (_, dtype) in self._files.items():
            if self.header[key]["record_bytes"] != dtype.itemsize:
                raise ValueError(f"{os.fspath(self.path)!r}: {key} record size does not match its names.")
        self._offset = {"grads": 0, "weights": 0}
        self._chunks: dict[str, list[np.ndarray]] = {"grads": [], "weights": []}
        self.ended = False
        self.dropped = 0  # records that failed their checksum, in the middle of a file
        self.graph: tuple[dict, bytes, bytes] | None = None  # (graph, edge_norms, hists) of graph.json

    def refresh(self) -> int:
        """Read what was appended since the last call; the number of new step rows."""
        new = 0
        for key in ("weights", "grads"):  # weights first: a grads row never waits for its weights
            records = self._read(key)
            if key == "grads" and len(records):
                end = records["step"] == END_STEP
                if end.any():
                    self.ended = True
                    records = records[~end]
                new = len(records)
            if len(records):
                self._chunks[key].append(records)
        if self.graph is None and (self.path / GRAPH).exists():
            try:
                data = json.loads((self.path / GRAPH).read_text(encoding="utf-8"))
                self.graph = (data["graph"], _unb64(data["edge_norms"]), _unb64(data["hists"]))
            except (OSError, ValueError, KeyError):  # replaced right now, or not ours: try next time
                self.graph = None
        return new

    def _read(self, key: str) -> np.ndarray:
        path, dtype = self._files[key]
        size = dtype.itemsize
        try:
            with open(path, "rb") as f:
                f.seek(self._offset[key])
                data = f.read()
        except FileNotFoundError:
            return np.zeros(0, dtype)
        whole = len(data) // size * size
        records = np.frombuffer(data[:whole], dtype)
        if not len(records):
            return records
        bodies = np.frombuffer(data[:whole], np.uint8).reshape(-1, size)[:, :-4]
        ok = np.fromiter((zlib.crc32(b) for b in bodies), np.uint32, len(records)) == records["crc"]
        take = len(records)
        if not ok[-1]:  # maybe still being written: read this record again next time
            take = int(np.flatnonzero(ok)[-1]) + 1 if ok.any() else 0
        self.dropped += int((~ok[:take]).sum())
        self._offset[key] += take * size
        return records[:take][ok[:take]].copy()

    @property
    def steps(self) -> np.ndarray:
        return self._concat("grads")["step"]

    def _concat(self, key: str) -> np.ndarray:
        chunks = self._chunks[key]
        if len(chunks) > 1:
            self._chunks[key] = chunks = [np.concatenate(chunks)]
        return chunks[0] if chunks else np.zeros(0, self._files[key][1])

    def history(self, max_steps: int | None = None) -> History:
        """What was read so far; with ``max_steps``, every 2nd (4th, ...) row, as watch keeps them."""
        grads, weights = self._concat("grads"), self._concat("weights")
        steps = grads["step"]
        p = len(self.names)
        param_norm = np.full((len(steps), p), np.nan, np.float32)
        update_ratio = np.full((len(steps), p), np.nan, np.float32)
        if len(weights) and len(steps):
            rows = np.searchsorted(steps, weights["step"])
            found = rows < len(steps)
            found[found] &= steps[rows[found]] == weights["step"][found]
            param_norm[rows[found]] = weights["param_norm"][found]
            update_ratio[rows[found]] = weights["update_ratio"][found]
        first = None
        bad = np.flatnonzero((grads["state"] == _NONFINITE).any(axis=1))
        if len(bad):
            row = bad[0]
            first = (int(steps[row]), self.names[int(np.argmax(grads["state"][row] == _NONFINITE))])
        stride = 1
        if max_steps is not None:
            while math.ceil(len(steps) / stride) > max_steps:
                stride *= 2
        keep = slice(None, None, stride)
        return History(
            steps=steps[keep],
            names=list(self.names),
            grad_norm=grads["grad_norm"][keep],
            param_norm=param_norm[keep],
            update_ratio=update_ratio[keep],
            state=grads["state"][keep],
            first_nonfinite=first,
            every=int(self.header.get("every", 1)),
            weights_every=self.header.get("weights_every"),
            stride=stride,
        )


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
            try:
                self.writer.append(step, grad_norm, state, param_norm, update_ratio)
            except OSError as e:  # a full disk must not stop the training: stop writing, say so once
                writer, self.writer = self.writer, None
                with contextlib.suppress(OSError):
                    writer.close()
                warnings.warn(
                    f"gradviz stopped writing {os.fspath(writer.path)!r} at step {step}: {e}. The steps "
                    "written before are intact; the monitor keeps recording in memory.",
                    RuntimeWarning,
                    stacklevel=2,
                )
        if self.keep:
            super().append(step, grad_norm, state, param_norm, update_ratio, clean=clean)
