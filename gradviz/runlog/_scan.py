"""What tells a record gradviz wrote from bytes that pass a crc32, and the search for one after damage.

# NOTE [a record gradviz wrote]
# Bytes pass a crc32 by chance once in 4 billion positions, and a crafted file can make them pass
# anywhere. So a record is taken only if it is one the writer could have written: its crc32 matches,
# its step is in [0, 2**48) or it is the end record byte for byte (grads.bin only), and none of its
# floats is below zero (every float the writer writes is a norm or a ratio of norms: >= 0 or NaN).
# The sequential read checks the same (intact_records); it costs a few percent of a valid read.
#
# NOTE [searching for an intact record]
# After corrupt bytes, the reader needs the first position where a record gradviz wrote starts (and
# whose step could follow the last one read); a crafted file can make every position worth checking.
# - A step in [0, 2**48) has 00 00 as its top two bytes: one cheap pass over the bytes finds the
#   positions worth checking; the end record is found by its bytes (bytes.find); a look at the first
#   floats drops most of the rest. When few positions are left, zlib checks them alone, in order.
# - Otherwise the crc32 of the window at every position is computed at once, from the one before
#   (NOTE [a rolling crc32] in gradviz/runlog/_rolling.py).
# - The positions found are then checked as above (step, floats, zlib's crc32 once more), in order: the
#   position :func:`first_intact` returns is exactly the one a byte-by-byte search with zlib finds.
#   :func:`walk` follows the reader's whole rule through a stretch of bytes with every record in it
#   found at once, taking the records that follow each other as a valid file holds them in one go, for
#   damage that comes back every few records.
# - Cost, 16 MB (benchmarks/open_hostile.py): a stretch where a record could start anywhere (crafted)
#   costs the rolling crc32, about 0.8 ns a position compiled (below what a valid read of records of
#   757 bytes costs a byte), 5 ns with numpy's scanner (a wheel built without a C compiler: several
#   times a valid read); damage every record, end markers everywhere and records of 22 bytes cost about
#   what a valid read costs.
"""

from __future__ import annotations

import bisect
import zlib
from typing import NamedTuple

import numpy as np

from gradviz.runlog._format import END_STEP, MAX_STEP
from gradviz.runlog._rolling import NS_PER_POSITION, RESIDUE, intact_windows

__all__ = ["Layout", "Walk", "first_intact", "intact_prefix", "intact_records", "walk"]

_FIRST = 64  # candidates checked with zlib before the rolling crc takes the rest
_SANE = 16  # floats looked at before a crc32
_TOP = MAX_STEP  # steps below this have 00 00 as their top two bytes
assert _TOP == 1 << 48


class Layout(NamedTuple):
    """Where a record file's fields are: what tells a record gradviz wrote from bytes that pass a crc32."""

    size: int  # bytes of a record
    floats: int  # offset of its first float32 (every float after it, up to the crc32, is one)
    end: bytes | None  # the end record, byte for byte (grads.bin); None: a file with no end record

    @classmethod
    def of(cls, dtype: np.dtype, has_end: bool) -> Layout:
        fields = dtype.fields
        assert fields is not None
        floats = min(offset for name, (kind, offset, *_) in fields.items() if kind.base == np.float32)
        end = None
        if has_end:
            record = np.zeros((), dtype)
            record["step"] = END_STEP
            body = record.tobytes()[:-4]
            end = body + zlib.crc32(body).to_bytes(4, "little")
        return cls(dtype.itemsize, floats, end)

    @property
    def nfloats(self) -> int:
        """Floats in a record."""
        return (self.size - 4 - self.floats) // 4


def intact_records(data: bytes | memoryview, whole: int, layout: Layout) -> np.ndarray:
    """Which of the ``whole`` records at the start of ``data`` gradviz wrote (NOTE [a record gradviz
    wrote]): crc32, step and floats checked."""
    size = layout.size
    rows = np.frombuffer(data, np.uint8, count=whole * size).reshape(whole, size)
    stored = rows[:, -4:].copy().view("<u4").reshape(whole)
    computed = np.fromiter((zlib.crc32(row) for row in rows[:, :-4]), np.uint32, whole)
    ok = computed == stored
    steps = np.ndarray((whole,), "<i8", buffer=data, strides=(size,))
    ok &= (steps >= 0) & (steps < _TOP)
    for at in np.flatnonzero(steps == END_STEP).tolist():  # the end record, exactly
        ok[at] = data[at * size : (at + 1) * size] == layout.end
    if layout.nfloats:
        floats = np.ndarray(
            (whole, layout.nfloats), "<f4", buffer=data, offset=layout.floats, strides=(size, 4)
        )
        ok &= ~(floats < 0).any(axis=1)
    return ok


def intact_prefix(data: bytes, whole: int, layout: Layout) -> int:
    """How many of the ``whole`` records at the start of ``data`` gradviz wrote before one it did not:
    checked in batches that grow while they pass (a damaged chunk costs what its good start costs)."""
    done, batch = 0, 64
    while done < whole:
        part = min(batch, whole - done)
        ok = intact_records(memoryview(data)[done * layout.size :], part, layout)
        if not ok.all():
            return done + int(np.argmin(ok))
        done, batch = done + part, 4 * batch
    return done


def first_intact(data: bytes, layout: Layout, last_step: int, span: int) -> int | None:
    """First position in ``data`` where a whole record gradviz wrote starts whose step could follow
    ``last_step`` (in (last_step, last_step + span]), or the end record; None if none."""
    size = layout.size
    count = len(data) - size + 1
    if count <= 0:
        return None
    end = _ends(data, layout, first=True)
    if end:  # nothing after the end record needs looking at
        count = min(count, end[0])
    highest = min(last_step + span, _TOP - 1)
    maybe = _maybe(data, count)
    few = _few(count, size)
    if last_step < 0 and np.count_nonzero(maybe) > few and data.count(0):
        # step 0 could follow: skip the records of zeros (never intact: the crc32 of zeros is not 0)
        nonzero = np.zeros(count + size, np.int32)  # nonzero bytes before each position
        np.cumsum(np.frombuffer(data, np.uint8, count=count + size - 1) != 0, out=nonzero[1:])
        maybe &= nonzero[size:] > nonzero[:count]
        del nonzero
    if np.count_nonzero(maybe) <= few:
        found = _first_written(data, layout, _following(data, np.flatnonzero(maybe), last_step, highest))
    else:
        # the next record is often the first candidate: zlib checks the first ones alone
        near = min(count, 64 * _FIRST)
        head = _following(data, np.flatnonzero(maybe[:near]), last_step, highest)[:_FIRST]
        found = _first_written(data, layout, head)
        if found is None:
            checked = head[-1] if len(head) == _FIRST else near - 1  # no record starts at or before here
            hits = intact_windows(memoryview(data)[: count + size - 1], size)
            hits = hits[hits > checked]
            found = _first_written(data, layout, _following(data, hits[maybe[hits]], last_step, highest))
    return found if found is not None else (end[0] if end else None)


class Walk(NamedTuple):
    """What following the reader's rule through a stretch of bytes found (positions relative to it)."""

    taken: np.ndarray  # positions of the records taken, in order
    gaps: np.ndarray  # bytes skipped before each record found by a search (in no order)
    offset: int  # where reading goes on
    searched: int  # the search from ``offset`` found nothing before here (-1: not searching)
    last_step: int  # step of the last record taken that is not the end marker
    ended: bool  # the end record was taken


def walk(data: bytes, layout: Layout, last_step: int, span: int, known_bad: int) -> Walk:
    """Follow the reader's rule through ``data``, whose first record is not intact: search for the first
    record gradviz wrote whose step could follow ``last_step`` (not before ``known_bad``), take it and
    the records that follow it, search again where one does not, and so on, to the end of ``data`` or
    the end record. Every record gradviz wrote in ``data`` is found at once (zlib on the few positions
    worth checking, or the rolling crc32 on all), and the records that follow each other as a valid file
    holds them are taken at once, so that damage every few records costs about what reading intact
    records costs."""
    size = layout.size
    count = max(0, len(data) - size + 1)
    maybe = _maybe(data, count)
    ends = np.array(_ends(data, layout, first=False), np.int64)
    if np.count_nonzero(maybe) <= _few(count, size):
        candidates = _sane(data, layout, np.flatnonzero(maybe))
        if len(ends):
            candidates = np.union1d(candidates, ends)
        chain = _chain(data, layout, candidates, last_step, span, known_bad, set(ends.tolist()))
        if chain is not None:
            return _walk(data, size, last_step, span, known_bad, chain)
        view = memoryview(data)
        written = candidates[[zlib.crc32(view[at : at + size]) == RESIDUE for at in candidates.tolist()]]
    else:
        hits = intact_windows(data, size)
        written = hits[maybe[hits]]
    written = _floats_ok(data, layout, written)
    return _walk(data, size, last_step, span, known_bad, np.union1d(written, ends) if len(ends) else written)


def _chain(
    data: bytes,
    layout: Layout,
    candidates: np.ndarray,
    last_step: int,
    span: int,
    known_bad: int,
    ends: set[int],
) -> np.ndarray | None:
    """The records :func:`walk` takes when they come as damage every few records leaves them: the first
    search's record, then each time the first of ``candidates`` (every position a record gradviz wrote
    may start at) past the record before, right after it or after bytes that are no record, its step
    following. Checked at once (zlib on these alone, not on every candidate); None when the records do
    not come so (the caller checks every candidate)."""
    size, n = layout.size, len(candidates)
    at = candidates.tolist()
    steps = _steps(data, len(data) - size + 1)[candidates].tolist()
    view = memoryview(data)

    def written(k: int) -> bool:
        position = at[k]
        if position in ends:
            return True
        intact = zlib.crc32(view[position : position + size]) == RESIDUE
        return intact and bool(len(_floats_ok(data, layout, candidates[k : k + 1])))

    first = bisect.bisect_left(at, max(1, known_bad))
    for k in range(first, min(n, first + _FIRST)):  # the first search, as the rule makes it
        if (steps[k] == END_STEP or last_step < steps[k] <= last_step + span) and written(k):
            break
    else:
        return None
    after = np.searchsorted(candidates, candidates + size).tolist()  # the first candidate past each
    chain = [k]
    while after[k] < n and steps[k] != END_STEP:
        k = after[k]
        chain.append(k)
    links = candidates[chain]
    rest = links[1:][[position not in ends for position in links[1:].tolist()]]
    crc = [zlib.crc32(view[position : position + size]) == RESIDUE for position in rest.tolist()]
    if not all(crc) or len(_floats_ok(data, layout, rest)) < len(rest):
        return None
    chained = np.array([steps[k] for k in chain], np.int64)
    searched = np.diff(links) > size
    follows = (chained[1:] == END_STEP) | (
        (chained[1:] > chained[:-1]) & (chained[1:] <= chained[:-1] + span)
    )
    if not (follows | ~searched).all():
        return None
    if chained[-1] == END_STEP:  # the records right after the end record are taken too
        k = chain[-1]
        while after[k] < n and at[after[k]] == at[k] + size:
            k = after[k]
            if not written(k):
                break
            links = np.append(links, at[k])
    return links


def _walk(data: bytes, size: int, last_step: int, span: int, known_bad: int, written: np.ndarray) -> Walk:
    """:func:`walk` through the positions of the records gradviz ``written`` in ``data`` (ascending)."""
    at = written.tolist()
    n = len(at)
    steps = _steps(data, len(data) - size + 1)[written] if n else np.zeros(0, np.int64)
    # pairs k, k + 1 the rule takes one after the other with no more to decide: neither the end record,
    # the second following the first, or after bytes that are not a record, with a step that can follow
    apart = np.diff(written)
    follows = (steps[1:] > steps[:-1]) & (steps[1:] <= steps[:-1] + span)
    plain = (
        (steps[:-1] != END_STEP) & (steps[1:] != END_STEP) & ((apart == size) | ((apart > size) & follows))
    )
    stops = [*np.flatnonzero(~plain).tolist(), n - 1]  # a run of plain pairs ends at one of these
    step_list = steps.tolist()
    taken: list[tuple[int, int]] = []  # the records taken: ranges of indices into ``written``
    gaps: list[int] = []  # bytes skipped before a record a search found
    between: list[np.ndarray] = []  # the same for the records taken at once

    def walked(offset: int, searched: int, last: int, ended: bool) -> Walk:
        found = [written[a:b] for a, b in taken]
        return Walk(
            np.concatenate(found) if found else written[:0],
            np.concatenate([np.array(gaps, np.int64), *between]),
            offset,
            searched,
            last,
            ended,
        )

    offset, last, ended = 0, last_step, False
    i = bisect.bisect_left(at, max(1, known_bad))
    while True:  # ``offset``: a whole record that is not intact; ``at[i:]``: the records after it
        while i < n:
            step = step_list[i]
            if step == END_STEP or last < step <= last + span:
                break
            i += 1
        else:
            return walked(offset, max(offset + 1, known_bad, len(data) - size + 1), last, False)
        gaps.append(at[i] - offset)
        e = stops[bisect.bisect_left(stops, i)]  # at[i .. e]: taken as they come
        if e > i:
            apart_ie = apart[i:e]
            between.append(apart_ie[apart_ie > size] - size)
            last = step_list[e - 1]
        j = e
        while True:  # a run of records (after the end record too, as a chunk read takes)
            if step_list[j] == END_STEP:
                ended = True
            elif not ended:
                last = step_list[j]
            j += 1
            if j == n or at[j] != at[j - 1] + size:
                break
        taken.append((i, j))
        offset = at[j - 1] + size
        if ended or offset + size > len(data):
            return walked(offset, -1, last, ended)
        i = bisect.bisect_right(at, offset)


def _few(count: int, size: int) -> int:
    """Positions zlib checks one by one in about the time the rolling crc32 takes for ``count`` (a
    window costs zlib about 240 ns and a third of a ns a byte, with the loop around it)."""
    return int(count * NS_PER_POSITION / (240 + size / 3)) + 16


def _steps(data: bytes, count: int) -> np.ndarray:
    """The int64 at each of the first ``count`` byte positions of ``data`` (a view)."""
    return np.ndarray((count,), "<i8", buffer=data, strides=(1,))


def _maybe(data: bytes, count: int) -> np.ndarray:
    """Per position, whether the int64 there is a step gradviz writes (in [0, 2**48): top bytes 00 00)."""
    if not count:
        return np.zeros(0, bool)
    byte = np.frombuffer(data, np.uint8)
    return (byte[6 : 6 + count] | byte[7 : 7 + count]) == 0


def _following(data: bytes, positions: np.ndarray, last_step: int, highest: int) -> np.ndarray:
    """The ``positions`` whose step is in (last_step, highest]."""
    steps = _steps(data, len(data) - 7)[positions]
    return positions[(steps > last_step) & (steps <= highest)]


def _sane(data: bytes, layout: Layout, positions: np.ndarray) -> np.ndarray:
    """The ``positions`` whose first floats are not below zero (a cheap look before a crc32)."""
    return _nonnegative(data, layout, positions, min(_SANE, layout.nfloats))


def _floats_ok(data: bytes, layout: Layout, positions: np.ndarray) -> np.ndarray:
    """The ``positions`` (of whole records) none of whose floats is below zero."""
    return _nonnegative(data, layout, positions, layout.nfloats)


def _nonnegative(data: bytes, layout: Layout, positions: np.ndarray, floats: int) -> np.ndarray:
    """The ``positions`` whose first ``floats`` floats are not below zero."""
    if not floats or not len(positions):
        return positions
    rows = len(data) - layout.floats - 4 * floats + 1  # positions whose floats lie inside ``data``
    every = np.ndarray((rows, floats), "<f4", buffer=data, offset=layout.floats, strides=(1, 4))
    ok = np.empty(len(positions), bool)
    for lo in range(0, len(positions), 4096):  # a gather of at most 4096 records at a time
        ok[lo : lo + 4096] = ~(every[positions[lo : lo + 4096]] < 0).any(axis=1)
    return positions[ok]


def _ends(data: bytes, layout: Layout, first: bool) -> list[int]:
    """The positions of the end record in ``data`` (the first only, with ``first``)."""
    found: list[int] = []
    if layout.end is not None and data.find(b"\xff") >= 0:  # memchr first: bytes.find is slow on zeros
        at = data.find(layout.end)
        while at >= 0:
            found.append(at)
            if first:
                break
            at = data.find(layout.end, at + 1)
    return found


def _first_written(data: bytes, layout: Layout, positions: np.ndarray) -> int | None:
    """The first of ``positions`` (steps in [0, 2**48)) where a record gradviz wrote starts."""
    view = memoryview(data)
    size = layout.size
    for at in _sane(data, layout, positions).tolist():
        if zlib.crc32(view[at : at + size]) == RESIDUE and len(_floats_ok(data, layout, np.array([at]))):
            return at
    return None
