"""One record file of a run (grads.bin, weights.bin), read a chunk at a time as it grows: the records that
pass their check, in order; after damage, the search for the next record gradviz wrote (NOTE [searching
for an intact record] in ``_scan``), and what was skipped (NOTE [untrusted run folders] in ``_reader``)."""

from __future__ import annotations

import os
from collections.abc import Generator

import numpy as np

from gradviz.runlog._format import END_STEP
from gradviz.runlog._scan import Layout, first_intact, intact_prefix, walk

__all__ = ["RecordFile", "pread"]

_CHUNK = 4 << 20  # bytes of records read at a time
_SCAN = 4 << 20  # bytes searched at a time for the next intact record (at most: a band of the rolling crc)
_SCAN_FIRST = 4096  # bytes searched first (the next intact record is often near)
_AFTER_DAMAGE = 16  # records read first after a search (damage often comes in many small pieces)
_STEP_SPAN = 1 << 40  # a record found after corrupt bytes has a step in (last step, last step + this]
_HAS_PREAD = hasattr(os, "pread")


class RecordFile:
    """One record file, read incrementally: the records that pass their check, in order of position."""

    def __init__(self, name: str, dtype: np.dtype, has_end: bool) -> None:
        self.name, self.dtype = name, dtype
        self.size = dtype.itemsize
        self.layout = Layout.of(dtype, has_end)
        self.offset = 0  # bytes taken: records read, or skipped as corrupt
        self.last_step = -1  # step of the last record taken (a record found after corrupt bytes follows it)
        self.dropped = 0  # records skipped (corrupt stretches, rounded to records, at least 1 each)
        self.skipped = 0  # bytes skipped
        self.shifted = False  # some stretch was not a whole number of records: dropped is an estimate
        self.unread = 0  # bytes after offset not taken: a record still being written, or a damaged tail
        self._known_bad = 0  # positions before this had a whole record there that was not intact
        self._walk = _SCAN_FIRST  # bytes walked through at the next damage (doubles while damage goes on)

    def read(self, fd: int, end: int) -> Generator[np.ndarray, None, None]:
        """Chunks of the intact records between ``offset`` and ``end`` (copies); moves ``offset`` on.

        Intact records are read a chunk at a time. At one that is not, the bytes after it are walked
        through (gradviz/runlog/_scan.py): every intact position in them found at once, the reader's rule
        followed through them; past them, a search for the next intact record goes on if need be. The
        walk and the reads after it start small and grow while damage goes on (the reads while they find
        none), so that damage costs in proportion to the bytes it spans, whether in one stretch or every
        few records. Records are handed on in chunks of about _CHUNK bytes (a chunk with the end record
        at once).
        """
        size = self.size
        full = max(1, _CHUNK // size) * size
        per = full
        batch: list[np.ndarray] = []
        batched = 0
        try:
            while self.offset + size <= end:
                data = pread(fd, min(per, end - self.offset), self.offset)
                whole = len(data) // size
                if not whole:
                    break
                good = intact_prefix(data, whole, self.layout)
                if good:
                    taken = np.frombuffer(data, self.dtype, count=good).copy()
                    self.offset += good * size
                    ends = taken["step"] == END_STEP
                    real = taken["step"][~ends]
                    if len(real):
                        self.last_step = int(real[-1])
                    batch.append(taken)
                    batched += good * size
                    if batched >= full or ends.any():
                        yield batch[0] if len(batch) == 1 else np.concatenate(batch)
                        batch, batched = [], 0
                    if good == whole:
                        per = min(full, 2 * per)
                        continue
                del data
                # the record at offset is not intact: walk through the bytes after it
                base = self.offset
                data = pread(fd, min(self._walk + size - 1, end - base), base)
                walked = walk(data, self.layout, self.last_step, _STEP_SPAN, self._known_bad - base)
                if len(walked.taken):
                    every = np.ndarray((len(data) - size + 1,), self.dtype, buffer=data, strides=(1,))
                    batch.append(every[walked.taken])
                    batched += len(walked.taken) * size
                    del every
                del data
                if len(walked.gaps):
                    self._skip(walked.gaps)
                self.last_step = walked.last_step
                self.offset = base + walked.offset
                self._walk = min(_SCAN, 2 * self._walk) if len(walked.gaps) > 1 else _SCAN_FIRST
                if walked.ended or batched >= full:
                    yield batch[0] if len(batch) == 1 else np.concatenate(batch)
                    batch, batched = [], 0
                per = min(full, _AFTER_DAMAGE * size)
                if walked.searched >= 0:  # nothing intact could follow in them: search on
                    self._known_bad = base + walked.searched
                    found = self._resync(fd, end)
                    if found is None:
                        break  # nothing intact after it (yet): read it again next time
                    self._skip(np.array([found - self.offset]))
                    self.offset = found
            if batch:
                yield batch[0] if len(batch) == 1 else np.concatenate(batch)
        finally:
            self.unread = max(0, end - self.offset)

    def _skip(self, gaps: np.ndarray) -> None:
        """Count stretches of ``gaps`` bytes skipped: each at least one record dropped, rounded."""
        self.skipped += int(gaps.sum())
        self.dropped += int(np.maximum(1, np.round(gaps / self.size)).sum())
        self.shifted |= bool((gaps % self.size != 0).any())

    def _resync(self, fd: int, end: int) -> int | None:
        """Position of the first intact record after ``offset``, or None before ``end``."""
        size = self.size
        start = max(self.offset + 1, self._known_bad)
        scan = _SCAN_FIRST
        while start + size <= end:
            data = pread(fd, min(scan + size - 1, end - start), start)
            if len(data) < size:
                break
            at = first_intact(data, self.layout, self.last_step, _STEP_SPAN)
            if at is not None:
                return start + at
            start += len(data) - size + 1
            self._known_bad = start  # a record starting before here was whole and not intact
            scan = min(_SCAN, 4 * scan)
        return None


def pread(fd: int, n: int, offset: int) -> bytes:
    """Up to ``n`` bytes at ``offset`` (fewer only at the end of the file). Each fd is used by one thread."""
    parts = []
    if not _HAS_PREAD:  # Windows
        os.lseek(fd, offset, os.SEEK_SET)
    while n > 0:
        part = os.pread(fd, n, offset) if _HAS_PREAD else os.read(fd, n)
        if not part:
            break
        parts.append(part)
        n -= len(part)
        offset += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)
