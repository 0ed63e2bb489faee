"""The crc32 of a record-sized window at every byte position of a stretch of bytes, at once.

# NOTE [a rolling crc32]
# The crc32 of the window at every position of a stretch of bytes, each from the one before (a rolling
# crc32: the crc is linear over GF(2), so sliding the window by a byte takes its byte in and the one
# leaving out with two table look-ups). A window ``w`` passes when crc32(w[:-4]) equals its last 4 bytes,
# that is when crc32(w) is the constant RESIDUE. Two scanners find the same positions (tests compare them
# with each other and with zlib at every position):
# - the compiled one (gradviz/runlog/_crcscan.c, built with the wheel by hatch_build.py): about 1.1 ns a
#   position, a few stretches rolled side by side in one loop, the GIL released;
# - numpy's, when the wheel was built without a C compiler (NATIVE is False): about 5 ns a position. In
#   bands of _BAND positions (their arrays stay in the caches), each cut into rows of ``width`` positions
#   (a multiple of the record size, so that the first window of each row is one zlib call on bytes no
#   other row's first window reads); every row slides at once, a column of rows per numpy call. Two rows
#   share a uint64 lane, their registers' bytes interleaved (row 2k in the even bytes, 2k + 1 in the
#   odd), so that one shift moves both registers a byte on and one look-up in a table of 65,536 takes in
#   (or takes out) a byte of both: a position costs one table look-up, not two.
"""

from __future__ import annotations

import functools
import importlib
import math
import zlib
from collections.abc import Callable

import numpy as np

__all__ = ["NATIVE", "NS_PER_POSITION", "RESIDUE", "intact_windows"]


_Scanner = Callable[[bytes | memoryview, int], bytes]  # intact_windows of _crcscan.c


def _compiled() -> _Scanner | None:
    """gradviz/runlog/_crcscan.c's scanner, compiled when the wheel was built (hatch_build.py); None for a
    wheel built without a C compiler. Imported by name: the import checks see .py files only, and would
    take an import of a module they cannot see for one of its package (gradviz.runlog)."""
    try:
        scanner: _Scanner = importlib.import_module("gradviz.runlog._crcscan").intact_windows
        return scanner
    except ImportError:
        return None


_compiled_windows = _compiled()
NATIVE = _compiled_windows is not None  # the compiled scanner is there (NOTE [a rolling crc32])
NS_PER_POSITION = 0.8 if NATIVE else 5.0  # what intact_windows costs, about (benchmarks/open_hostile.py)

RESIDUE = 0x2144DF1C  # crc32(m + crc32(m).to_bytes(4, "little")) for every m: a window that holds a record
_DIRECT = 2048  # positions at most that zlib checks one by one rather than rolling
_BLOCK = 64  # columns of registers kept before they are searched for intact windows
_BAND = 1 << 22  # positions at most rolled at once
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
def _rolling(size: int) -> tuple[np.ndarray, int]:
    """For windows of ``size`` bytes: the register change of the byte leaving the window, by its value,
    and the register of an intact record."""
    one = np.uint32(1) << _BITS
    step = (one >> np.uint32(8)) ^ _TABLE[one & np.uint32(0xFF)]  # append one zero byte
    shift, power, n = one, step, size
    while n:  # square and multiply: the map "append ``size`` zero bytes"
        if n & 1:
            shift = _apply(power, shift)
        power = _apply(power, power)
        n >>= 1
    leaving = _apply(shift, _TABLE)
    # crc32(w) = register(w) ^ crc32(size zero bytes), with register(w) the register from 0
    return leaving, RESIDUE ^ zlib.crc32(bytes(size))


def _interleave(even: np.ndarray, odd: np.ndarray) -> np.ndarray:
    """uint64 lanes of two uint32 registers each, the bytes of ``even`` at bytes 0, 2, 4, 6 (low first)."""
    out = np.empty((len(even), 8), np.uint8)
    out[:, 0::2] = even.astype("<u4").view(np.uint8).reshape(-1, 4)
    out[:, 1::2] = odd.astype("<u4").view(np.uint8).reshape(-1, 4)
    return out.view("<u8").reshape(-1)


@functools.lru_cache(maxsize=8)
def _lane_tables(size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """For two interleaved registers (:func:`_interleave`), by the uint16 of their two low bytes: the
    change a byte taken in makes to both (that byte xor-ed into the index), and the change the two
    bytes leaving their windows make; and the register of an intact record."""
    leaving, intact = _rolling(size)
    u = np.arange(1 << 16, dtype=np.uint32)
    low, high = u & 0xFF, u >> 8
    return _interleave(_TABLE[low], _TABLE[high]), _interleave(leaving[low], leaving[high]), intact


def intact_windows(data: bytes | memoryview, size: int) -> np.ndarray:
    """The positions (ascending) of the windows of ``size`` bytes of ``data`` whose crc32 is RESIDUE."""
    if _compiled_windows is not None and size >= 5:
        return np.frombuffer(_compiled_windows(data, size), np.int64)
    return numpy_windows(data, size)


def numpy_windows(data: bytes | memoryview, size: int) -> np.ndarray:
    """:func:`intact_windows` with numpy's scanner (NOTE [a rolling crc32])."""
    count = len(data) - size + 1
    if count <= 0:
        return np.zeros(0, np.int64)
    if count <= _DIRECT:
        view = memoryview(data)
        return np.array([at for at in range(count) if zlib.crc32(view[at : at + size]) == RESIDUE], np.int64)
    # bands of at most _BAND positions: their arrays stay in the caches
    bands = -(-count // _BAND)
    edges = [count * i // bands for i in range(bands + 1)]
    view = memoryview(data)
    return np.concatenate(
        [_windows(view[edges[i] : edges[i + 1] + size - 1], size) + edges[i] for i in range(bands)]
    )


def _windows(data: bytes | memoryview, size: int) -> np.ndarray:
    """:func:`intact_windows` on one band, with the rolling crc32 (the note above)."""
    count = len(data) - size + 1
    # a zlib call per row against numpy calls per column: width ~ sqrt(count / 10), a multiple of size
    width = size * max(1, round(math.sqrt(count / 10) / size))
    rows = -(-count // width)
    rows += rows & 1  # rows 2k and 2k + 1 share lane k
    lanes = rows // 2
    grid = np.zeros((rows + 1, width), np.uint8)  # row r: the bytes at r * width + j (zeros past the end)
    grid.reshape(-1)[: len(data)] = np.frombuffer(data, np.uint8)
    # column j of the rows, the rows in pairs: leaving[j] holds the bytes leaving the windows of both rows
    # of each lane at column j (a uint16 each); the byte entering at column j is leaving[j + size], or
    # in the last size columns the next row's, in entering_late
    columns = np.zeros((width, rows + 2), np.uint8)  # an even length: every column's pairs aligned
    columns[:, : rows + 1] = grid.T
    leaving = columns[:, :rows].view("<u2")
    entering_late = np.ascontiguousarray(columns[:size, 1 : rows + 1]).view("<u2")
    zero = zlib.crc32(bytes(size))
    flat = grid.reshape(-1).data
    starts = range(0, rows * width, width)
    first = np.fromiter((zlib.crc32(flat[s : s + size]) for s in starts), np.uint32, rows) ^ np.uint32(zero)
    table, leave_table, intact = _lane_tables(size)
    block = np.empty((min(_BLOCK, width), lanes), "<u8")
    block[0] = _interleave(first[0::2], first[1::2])
    index = np.empty(lanes, "<u2")
    looked = np.empty(lanes, "<u8")
    found: list[np.ndarray] = []
    row = 0  # the row of ``block`` that holds column j
    for j in range(1, width):
        before = block[row]
        row += 1
        if row == len(block):
            found += _search(block, j - row, intact, width)
            row = 0
        after = block[row]
        entering = leaving[j - 1 + size] if j - 1 + size < width else entering_late[j - 1 + size - width]
        np.bitwise_xor(before.view("<u2")[::4], entering, out=index)
        table.take(index, out=looked, mode="clip")
        np.right_shift(before, 16, out=after)
        after ^= looked
        leave_table.take(leaving[j - 1], out=looked, mode="clip")
        after ^= looked
    found += _search(block[: row + 1], width - 1 - row, intact, width)
    at = np.sort(np.concatenate(found)) if found else np.zeros(0, np.int64)
    return at[at < count]


def _search(block: np.ndarray, column: int, intact: int, width: int) -> list[np.ndarray]:
    """The positions of the intact windows among the registers of ``block`` (columns from ``column``)."""
    columns, lanes = block.shape
    by = block.view(np.uint8).reshape(columns, lanes, 8)
    low = intact & 0xFF
    found = []
    for half in (0, 1):  # the registers of rows 2k, then 2k + 1: a look at their low byte first
        maybe = np.flatnonzero(by[:, :, half] == low)
        if len(maybe):
            registers = np.ascontiguousarray(by.reshape(-1, 8)[maybe][:, half::2]).view("<u4").reshape(-1)
            c, lane = np.divmod(maybe[registers == intact], lanes)
            found.append((2 * lane + half) * width + column + c)
    return found
