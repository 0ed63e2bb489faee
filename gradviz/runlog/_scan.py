"""Finding the next intact record after damage: the crc32 of a record-sized window at every byte position.

# NOTE [searching for an intact record]
# After corrupt bytes, the reader needs the first position where a whole record passes its crc32 (and
# has a step that could follow the last one read). Checking each position with zlib costs a crc32 of a
# whole record per position, and a crafted file can make every position worth checking. Instead the
# crc32 of the window at every position is computed at once, from the one before (a rolling crc32:
# the crc is linear over GF(2), so sliding the window by a byte takes its byte in and the one leaving
# out with two table look-ups), in numpy, a column of rows at a time. A record ``r`` is intact when
# crc32(r[:-4]) equals its last 4 bytes, that is when crc32(r) is the constant _RESIDUE. The few
# positions found are then checked as before (the step, not all zero, zlib's crc32 once more), in order:
# the position :func:`first_intact` returns is exactly the one a byte-by-byte search with zlib finds.
# When few positions are worth checking, or the first ones checked hold the record, zlib checks them
# alone. :func:`walk` follows the reader's whole rule through a stretch of bytes with the intact
# positions found at once, for damage that comes back every few records.
"""

from __future__ import annotations

import bisect
import functools
import sys
import zlib
from typing import NamedTuple

import numpy as np

__all__ = ["Walk", "first_intact", "intact_records", "walk"]

_RESIDUE = 0x2144DF1C  # crc32(m + crc32(m).to_bytes(4, "little")) for every m
_WIDTH = 256  # positions per row: the rolling crc takes a Python step per column, over all rows at once


def _width(count: int) -> int:
    """Positions per row for ``count`` positions: fewer columns (Python steps) when there are few rows."""
    return max(1, min(_WIDTH, int((count / 16) ** 0.5)))


_FIRST = 64  # candidates checked with zlib before the rolling crc takes the rest
_LOW = 0 if sys.byteorder == "little" else 3  # the low byte of a uint32 in memory
_BITS = np.arange(32, dtype=np.uint32)


def _crc_table() -> np.ndarray:
    """zlib's crc32 table: the register's change for each value of its low byte (reflected 0xEDB88320)."""
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(0xEDB88320), t >> 1).astype(np.uint32)
    return t


_TABLE = _crc_table()


def _apply(images: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The GF(2)-linear map of 32 bits whose image of bit i is ``images[i]``, on each of ``x``."""
    bits = (x[..., None] >> _BITS) & np.uint32(1)
    return np.bitwise_xor.reduce(np.where(bits == 1, images, np.uint32(0)), axis=-1).astype(np.uint32)


@functools.lru_cache(maxsize=8)
def _rolling(size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """For windows of ``size`` bytes: the map "append ``size`` zero bytes" on the crc register (as the
    images of its 32 bits), the register change of the byte leaving the window, by its value, and the
    register of an intact record."""
    one = np.uint32(1) << _BITS
    step = (one >> np.uint32(8)) ^ _TABLE[one & np.uint32(0xFF)]  # append one zero byte
    shift, power, n = one, step, size
    while n:  # square and multiply
        if n & 1:
            shift = _apply(power, shift)
        power = _apply(power, power)
        n >>= 1
    leaving = _apply(shift, _TABLE)
    # crc32(w) = register(w) ^ crc32(size zero bytes), with register(w) the register from 0
    return shift, leaving, _RESIDUE ^ zlib.crc32(bytes(size))


def intact_records(data: bytes, whole: int, size: int) -> np.ndarray:
    """Which of the ``whole`` records at the start of ``data`` pass their crc32."""
    rows = np.frombuffer(data, np.uint8, count=whole * size).reshape(whole, size)
    stored = rows[:, -4:].copy().view("<u4").reshape(whole)
    computed = np.fromiter((zlib.crc32(row) for row in rows[:, :-4]), np.uint32, whole)
    return computed == stored


def first_intact(data: bytes, size: int, last_step: int, span: int) -> int | None:
    """First position in ``data`` where a whole intact record of ``size`` bytes starts, whose step could
    follow ``last_step`` (in (last_step, last_step + span]) or is the end marker (-1); None if none."""
    count = len(data) - size + 1
    if count <= 0:
        return None
    steps = np.ndarray((count,), "<i8", buffer=data, strides=(1,))  # the int64 at every byte position
    plausible = (steps == -1) | ((steps > last_step) & (steps <= last_step + span))
    # a zlib call per position checked costs about what the rolling crc costs for ``few`` positions
    few = (_width(count) * 8_000 + count * 8) // (400 + size // 2) + 16
    if last_step < 0 and np.count_nonzero(plausible) > few and data.count(0):
        # step 0 could follow: skip the records of zeros (never intact: the crc32 of zeros is not 0)
        nonzero = np.zeros(len(data) + 1, np.int32)  # nonzero bytes before each position
        np.cumsum(np.frombuffer(data, np.uint8) != 0, out=nonzero[1:])
        plausible &= nonzero[size:] > nonzero[:count]
        del nonzero
    candidates = np.flatnonzero(plausible)
    head = few if len(candidates) <= few else min(few, _FIRST)  # the next record is often the first
    at = _first_checked(data, size, candidates[:head])
    if at is not None or len(candidates) <= few:
        return at
    found = _intact_windows(data, size)
    return _first_checked(data, size, found[plausible[found] & (found > candidates[head - 1])])


class Walk(NamedTuple):
    """What following the reader's rule through a stretch of bytes found (positions relative to it)."""

    taken: list[int]  # positions of the records taken, in order
    gaps: list[int]  # bytes skipped before each record found by a search
    offset: int  # where reading goes on
    searched: int  # the search from ``offset`` found nothing before here (-1: not searching)
    last_step: int  # step of the last record taken that is not the end marker
    ended: bool  # the end record was taken


def walk(data: bytes, size: int, last_step: int, span: int, known_bad: int) -> Walk:
    """Follow the reader's rule through ``data``, whose first record is not intact: search for the first
    intact record whose step could follow ``last_step`` (not before ``known_bad``), take it and the
    intact records that follow it, search again where one is not intact, and so on, to the end of
    ``data`` or the end record. The rolling crc32 finds every intact position at once, so that damage
    every few records costs about what reading intact records costs."""
    hits = _intact_windows(data, size)
    at = hits.tolist()
    steps = np.ndarray((len(data) - size + 1,), "<i8", buffer=data, strides=(1,))[hits].tolist()
    index = {position: i for i, position in enumerate(at)}
    taken: list[int] = []
    gaps: list[int] = []
    take, following, n = taken.append, index.get, len(at)
    offset, last, ended = 0, last_step, False
    i = bisect.bisect_left(at, max(1, known_bad))
    while True:  # ``offset``: a whole record that is not intact; ``at[i:]``: the intact ones after it
        while i < n:
            step = steps[i]
            if (step == -1 or last < step <= last + span) and not _zeros(data, at[i], size):
                break
            i += 1
        else:
            return Walk(taken, gaps, offset, max(offset + 1, known_bad, len(data) - size + 1), last, False)
        gaps.append(at[i] - offset)
        j: int | None = i
        while j is not None:  # a run of intact records (after the end record too, as a chunk read takes)
            i = j
            take(at[j])
            if steps[j] == -1:
                ended = True
            elif not ended:
                last = steps[j]
            j = following(at[j] + size)
        offset = at[i] + size
        if ended or offset + size > len(data):
            return Walk(taken, gaps, offset, -1, last, ended)
        while i < n and at[i] <= offset:
            i += 1


def _zeros(data: bytes, at: int, size: int) -> bool:
    """Whether the record at ``at`` is all zero bytes (its crc32 first: 0 in such a record)."""
    return data[at + size - 4 : at + size] == bytes(4) and not data[at : at + size].strip(b"\0")


def _first_checked(data: bytes, size: int, positions: np.ndarray) -> int | None:
    """The first of ``positions`` where an intact record starts (zlib's crc32) that is not all zero."""
    view = memoryview(data)
    for at in positions.tolist():
        crc = int.from_bytes(view[at + size - 4 : at + size], "little")
        if zlib.crc32(view[at : at + size - 4]) == crc and not _zeros(data, at, size):
            return at
    return None


def _intact_windows(data: bytes, size: int) -> np.ndarray:
    """The positions (ascending) of the windows of ``size`` bytes of ``data`` whose crc32 is _RESIDUE."""
    count = len(data) - size + 1
    if count <= 0:
        return np.zeros(0, np.int64)
    shift, leaving, intact = _rolling(size)
    width = _width(count)
    rows = -(-count // width)
    span = rows * width  # positions computed (the last row padded with zeros)
    padded = np.zeros(span + size, np.uint8)
    padded[: len(data)] = np.frombuffer(data, np.uint8)
    window = _first_windows(padded, size, width, rows, shift)
    # row r holds the positions r * width + j; column j of ``entering`` the byte that enters at j + 1
    entering = padded[size : size + span].reshape(rows, width).T
    leaves = padded[:span].reshape(rows, width).T
    hits = np.empty((width, rows), bool)
    np.equal(window, intact, out=hits[0])
    low = window.view(np.uint8)[_LOW::4]
    index = np.empty(rows, np.uint8)
    looked = np.empty(rows, np.uint32)
    for j in range(width - 1):
        np.bitwise_xor(low, entering[j], out=index)
        np.take(_TABLE, index, out=looked)
        window >>= np.uint32(8)
        window ^= looked
        np.take(leaving, leaves[j], out=looked)
        window ^= looked
        np.equal(window, intact, out=hits[j + 1])
    if not hits.any():
        return np.zeros(0, np.int64)
    found = np.flatnonzero(hits.T)  # in the order of positions r * width + j
    return found[found < count]


def _first_windows(padded: np.ndarray, size: int, width: int, rows: int, shift: np.ndarray) -> np.ndarray:
    """The register (from 0) of the window at the start of each row, from zlib."""
    view = padded.data
    if size <= 4 * width:  # each window from its bytes
        crcs = np.fromiter((zlib.crc32(view[s : s + size]) for s in range(0, rows * width, width)), np.uint32)
        return crcs ^ np.uint32(zlib.crc32(bytes(size)))
    # long records: one pass, noting reg(n), the register after the first n bytes, at each row's start
    # and end; a window's register is reg(end) ^ shift(reg(start))
    starts = np.arange(rows, dtype=np.int64) * width
    marks = np.unique(np.concatenate([starts, starts + size]))
    regs = np.empty(len(marks), np.uint32)
    crc, done = 0, 0
    for i, mark in enumerate(marks.tolist()):
        crc = zlib.crc32(view[done:mark], crc)
        regs[i], done = crc ^ 0xFFFFFFFF, mark
    at_start, at_end = regs[np.searchsorted(marks, starts)], regs[np.searchsorted(marks, starts + size)]
    return at_end ^ _apply(shift, at_start)
