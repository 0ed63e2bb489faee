"""Reading a recorded run (the format is in ``gradviz/runlog/_format.py``), from a folder that may come from
anyone.

# NOTE [untrusted run folders]
# A run folder may be downloaded, shared or crafted, so the reader trusts nothing in it:
# - It opens only regular files whose real path (symlinks resolved) lies inside the folder: header.json,
#   graph.json, forensics.json, headroom.json and the two record files the header names. A FIFO, a
#   device or a directory is refused without blocking (opened with O_NONBLOCK, then fstat).
# - header.json, graph.json, forensics.json and headroom.json are read up to a size limit and parsed in
#   bounded nesting, without NaN, endless integers or lone surrogates (gradviz/runlog/_json.py). Every
#   header field is checked (gradviz/runlog/_header.py); a wrong one raises ValueError naming it. A
#   graph.json, a forensics.json or a headroom.json that fails is left out, and why is said
#   (``problems``, shown by ``gradviz.open``'s repr; ``forensics_problem`` and ``headroom_problem``,
#   said in the watch view).
# - Nothing is allocated from the header's counts: a header may name millions of parameters over
#   no records. Rows are allocated as records are read (with ``max_steps=None``, the rest of the file's
#   rows at once when the first records arrive), so memory is bounded by what the files hold.
# - Record files are read up to the size fstat gave when the refresh began, a chunk of _CHUNK bytes at a
#   time (_record_file.py). Rows go straight into a StepBuffer (max_steps rows, as watch keeps them), so
#   memory is a chunk plus the rows kept, whatever the size of the files.
# - Bytes inserted into or cut out of the middle of a record file shift every record after them: the
#   reader then searches for the first position after them where a record's crc32 matches (and whose
#   step could follow the last one read), and counts the bytes it skipped. The bytes after a record
#   that is not intact are walked through with every intact position in them found at once (a rolling
#   crc32, gradviz/runlog/_scan.py), then searched up to _SCAN bytes at a time, so that damage costs about
#   what reading intact records costs however the bytes are crafted: in one long stretch, or after
#   every record. A stretch with no intact record after it is left unread (it may be a record still
#   being written) and counted in ``unread_bytes``; it is not searched again.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gradviz.records import History, StepBuffer
from gradviz.runlog._format import END_STEP, FORENSICS, GRAPH, HEADER, HEADROOM, grads_dtype, weights_dtype
from gradviz.runlog._header import check_forensics, check_graph, check_header, check_headroom
from gradviz.runlog._record_file import RecordFile, pread

__all__ = ["RunReader"]

_HEADER_MAX = 64 << 20  # bytes; the names of a few million parameters
_GRAPH_MAX = 256 << 20  # bytes of graph.json; a larger one is not shown
_HEADROOM_MAX = 64 << 20  # bytes of headroom.json (its records name every parameter)
_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO opens at once (and is then refused) instead of blocking
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class RunReader:
    """Reads a run directory incrementally: :meth:`refresh` takes the records appended since the last call.

    Safe while the run is still being written, on a run whose process died mid-write, and on a folder
    from anyone (see the note above). ``max_steps``: rows kept, as ``watch`` keeps them (None: every row).
    """

    def __init__(self, log_dir: str | os.PathLike[str], max_steps: int | None = None) -> None:
        self.path = Path(log_dir)
        self._root = os.path.realpath(self.path)
        self._where = os.fspath(self.path)
        if not os.path.lexists(os.path.join(self._root, HEADER)):
            hint = ""
            ranks = sorted(p.name for p in self.path.glob("rank*") if (p / HEADER).exists())
            if ranks:
                hint = f" It holds runs of other ranks: {', '.join(ranks)}."
            raise FileNotFoundError(
                f"{self._where!r} is not a recorded gradviz run (no {HEADER}); record one with "
                f"gradviz.watch(model, optimizer=opt, log_dir=...).{hint}"
            )
        data = self._read_small(HEADER, _HEADER_MAX)
        if data is None:
            raise FileNotFoundError(f"{self._where!r}: {HEADER} disappeared while it was opened.")
        self.header = check_header(data, self._where)
        self.names: list[str] = list(self.header["names"])
        p = len(self.names)
        # nothing allocated from the header's counts: rows come with the records read (see the note)
        self.buffer = StepBuffer(
            self.names, max_steps, self.header["every"], self.header["weights_every"], capacity=0
        )
        self._grads = RecordFile(self.header["grads"]["file"], grads_dtype(p), has_end=True)
        self._weights = RecordFile(self.header["weights"]["file"], weights_dtype(p), has_end=False)
        for records in (self._grads, self._weights):  # refuse a bad record file now, not in a poller
            opened = self._open(records.name, "record file")
            if opened is not None:
                os.close(opened[0])
        self._pending: np.ndarray = np.zeros(0, self._weights.dtype)  # weights whose row is not read yet
        self.ended = False
        self.graph: tuple[dict, bytes, bytes] | None = None  # (graph, edge_norms, hists) of graph.json
        self._graph_done = False
        self.problems: list[str] = []  # what was found wrong and left out (graph.json, forensics.json)
        # forensics.json, checked (gradviz/runlog/_format.py): its replay as (graph, edge_norms, hists)
        self.forensics: dict | None = None
        self.forensics_problem: str | None = None  # why a forensics.json there was left out
        # headroom.json, checked (rewritten while the run goes on: read again when its bytes change)
        self.headroom: dict | None = None
        self.headroom_problem: str | None = None  # why the headroom.json there was left out
        self._headroom_bytes: bytes | None = None

    # -- what was read -----------------------------------------------------------------------------------

    @property
    def steps_read(self) -> int:
        """Step rows read so far (kept or not)."""
        return self.buffer.seen

    @property
    def dropped(self) -> int:
        """Records skipped because they failed their checksum (about, when bytes were inserted or cut)."""
        return self._grads.dropped + self._weights.dropped

    @property
    def skipped_bytes(self) -> int:
        """Bytes skipped over in the middle of the record files (corrupt, or shifted by bytes inserted)."""
        return self._grads.skipped + self._weights.skipped

    @property
    def missing_steps(self) -> int:
        """Steps the writer recorded (0, every, 2 every, ... up to the last read) that were not read."""
        last = self._grads.last_step
        return max(0, last // self.header["every"] + 1 - self.buffer.seen) if last >= 0 else 0

    @property
    def shifted(self) -> bool:
        """Some skipped stretch was not a whole number of records (bytes inserted or cut out): ``dropped``
        is then the records those bytes would fill, not a count of records lost."""
        return self._grads.shifted or self._weights.shifted

    @property
    def unread_bytes(self) -> int:
        """Bytes at the end of ``grads.bin`` not read: a record still being written, or a damaged tail."""
        return self._grads.unread

    @property
    def record_bytes(self) -> int:
        return self._grads.size

    def history(self) -> History:
        """What was read so far (at most ``max_steps`` rows, every 2nd, 4th, ... as watch keeps them)."""
        return self.buffer.history()

    # -- reading -----------------------------------------------------------------------------------------

    def refresh(self) -> int:
        """Read what was appended since the last call; the number of new step rows."""
        before = self.buffer.seen
        if not self.ended:
            with contextlib.ExitStack() as stack:
                # grads first: every weights record is written before its step's grads record, so the
                # weights file, looked at after, holds the weights of every grads row read now
                grads = self._open(self._grads.name, "record file")
                if grads is not None:
                    stack.callback(os.close, grads[0])
                    weights = self._open(self._weights.name, "record file")
                    more: Iterator[np.ndarray] = iter(())
                    if weights is not None:
                        stack.callback(os.close, weights[0])
                        more = stack.enter_context(contextlib.closing(self._weights.read(*weights)))
                    chunks = stack.enter_context(contextlib.closing(self._grads.read(*grads)))
                    for i, chunk in enumerate(chunks):
                        if i == 0:  # records are there: room for them and the rest of the file at once
                            rest = max(0, grads[1] - self._grads.offset) // self._grads.size
                            self.buffer.reserve(len(chunk) + rest)
                        self._take(chunk, more)
                        if self.ended:
                            break
        if not self._graph_done:
            self._read_graph()
        if self.forensics is None and self.forensics_problem is None:
            self._read_forensics()
        self._read_headroom()
        return self.buffer.seen - before

    def _take(self, records: np.ndarray, weights: Iterator[np.ndarray]) -> None:
        """Add the rows of grads ``records``, with the weights of their steps."""
        steps = records["step"]
        end = np.flatnonzero(steps == END_STEP)
        if len(end):
            self.ended = True
            records, steps = records[: end[0]], steps[: end[0]]
        if not len(records):
            return
        top = steps.max()
        pending = [self._pending]
        while not len(pending[-1]) or pending[-1]["step"][-1] <= top:
            chunk = next(weights, None)
            if chunk is None:
                break
            pending.append(chunk)
        found = np.concatenate(pending) if len(pending) > 1 else pending[0]
        self._pending = found[found["step"] > top].copy()
        found = found[found["step"] <= top]
        param_norm = update_ratio = None
        if len(found):
            rows = np.searchsorted(steps, found["step"]).clip(0, len(steps) - 1)
            match = steps[rows] == found["step"]
            if match.any():
                shape = (len(steps), len(self.names))
                param_norm = np.full(shape, np.nan, np.float32)
                update_ratio = np.full(shape, np.nan, np.float32)
                param_norm[rows[match]] = found["param_norm"][match]
                update_ratio[rows[match]] = found["update_ratio"][match]
        self.buffer.extend(steps, records["grad_norm"], records["state"], param_norm, update_ratio)

    def _read_graph(self) -> None:
        try:
            data = self._read_small(GRAPH, _GRAPH_MAX)
            if data is None:
                return
            self.graph = check_graph(data)
        except ValueError as e:
            self.problems.append(f"{GRAPH} left out: {e}")
        self._graph_done = True

    def _read_forensics(self) -> None:
        """forensics.json once it is there (written when the run's first NaN/Inf is recorded)."""
        try:
            data = self._read_small(FORENSICS, _GRAPH_MAX)
            if data is None:
                return
            self.forensics = check_forensics(data)
        except ValueError as e:
            self.forensics_problem = f"{FORENSICS} left out: {e}"
            self.problems.append(self.forensics_problem)

    def _read_headroom(self) -> None:
        """headroom.json, each time its bytes change (the writer rewrites it while the run goes on)."""
        problem: str | None
        try:
            data = self._read_small(HEADROOM, _HEADROOM_MAX)
        except ValueError as e:
            data, problem = None, f"{HEADROOM} left out: {e}"
        else:
            if data is None or data == self._headroom_bytes:
                return
            self._headroom_bytes = data
            try:
                self.headroom, problem = check_headroom(data), None
            except ValueError as e:
                problem = f"{HEADROOM} left out: {e}"
        if problem is not None:
            self.headroom = None
            if problem != self.headroom_problem:
                self.problems = [p for p in self.problems if p != self.headroom_problem]
                self.problems.append(problem)
        elif self.headroom_problem is not None:
            self.problems = [p for p in self.problems if p != self.headroom_problem]
        self.headroom_problem = problem

    # -- files -------------------------------------------------------------------------------------------

    def _open(self, name: str, what: str) -> tuple[int, int] | None:
        """(fd, size) of regular file ``name`` inside the run folder, or None when there is none."""
        full = os.path.realpath(os.path.join(self._root, name))
        if full == self._root or os.path.commonpath([self._root, full]) != self._root:
            raise ValueError(
                f"{self._where!r}: the {what} {name!r} is outside the run folder; refusing to read it."
            )
        try:
            fd = os.open(full, _FLAGS)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ValueError(f"{self._where!r}: cannot open the {what} {name!r}: {e}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ValueError(
                    f"{self._where!r}: the {what} {name!r} is not a regular file ({_kind(info.st_mode)}); "
                    "refusing to read it."
                )
        except BaseException:
            os.close(fd)
            raise
        return fd, info.st_size

    def _read_small(self, name: str, limit: int) -> bytes | None:
        opened = self._open(name, "file")
        if opened is None:
            return None
        fd, size = opened
        try:
            if size > limit:
                raise ValueError(f"{name} is {size:,} bytes, more than the {limit:,} gradviz reads")
            data = pread(fd, size, 0)
        finally:
            os.close(fd)
        return data


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"
