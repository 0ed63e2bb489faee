"""JSON from a run folder that may come from anyone: parsed in bounded depth, time and memory.

# NOTE [untrusted JSON]
# ``json.loads`` recurses once per nesting level (a deeply nested file raises RecursionError), takes NaN
# and Infinity, and turns any run of digits into an int (quadratic in its length when the interpreter's
# digit limit is lifted). :func:`parse` refuses all of these with an :class:`Unreadable` (a ValueError) that
# names the top-level key they are under, so a header check can name the field:
# - Nesting is measured on the bytes before parsing, exactly (brackets inside strings do not count): on
#   the quotes and brackets left once the escapes are cut out (_nests_too_deep); then, only for a file
#   refused, again with positions, to find the key (_too_deep). A file that nests deeper than MAX_DEPTH
#   levels is never handed to the parser. In a file that is not valid JSON, the bytes up to the first
#   error are a prefix of valid JSON, measured exactly too, and the parser stops at that error: it never
#   goes deeper than was measured.
# - NaN, Infinity, -Infinity, a float literal that overflows to infinity, an integer literal longer than
#   MAX_DIGITS characters (never converted), and a string holding a lone surrogate (not UTF-8: it could
#   not be shown or saved) are refused after parsing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable

import numpy as np

__all__ = ["MAX_DEPTH", "MAX_DIGITS", "Unreadable", "parse"]

MAX_DEPTH = 64  # levels of [ and {; gradviz writes 2 (header.json) and about 7 (graph.json)
MAX_DIGITS = 40  # characters of an integer literal (an int64 has at most 20)
_BLOCK = 1 << 20  # bytes measured at a time
_SURROGATE = re.compile(rb"\\u[dD][89abcdefABCDEF]")  # the escape of a surrogate: maybe a lone one

# the fast measure: escapes cut out, then the quotes and brackets alone, each bracket's change of depth
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_MARKS = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_DELTA = np.zeros(256, np.int8)
_DELTA[[ord("["), ord("{")]] = 1
_DELTA[[ord("]"), ord("}")]] = -1

# the measure with positions looks at: [ { (1), ] } (2), " (3), \ (4), : (5)
_CLASS = np.zeros(256, np.uint8)
_CLASS[[ord("["), ord("{")]] = 1
_CLASS[[ord("]"), ord("}")]] = 2
_CLASS[ord('"')], _CLASS[ord("\\")], _CLASS[ord(":")] = 3, 4, 5


class Unreadable(ValueError):
    """What is wrong with a JSON file (``problem``), and the top-level key it is under (``key``, or None)."""

    def __init__(self, problem: str, key: str | None = None) -> None:
        super().__init__(problem if key is None else f"{problem} (under {key!r})")
        self.problem, self.key = problem, key


class _Bad:
    """Stands in for a refused literal until the key it is under is known."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def parse(data: bytes) -> object:
    """The JSON value of UTF-8 ``data``; Unreadable for what the note above refuses, ValueError (with the
    position) for bytes that are not UTF-8 or not JSON."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"is not UTF-8 text ({e.reason} at byte {e.start})") from None
    if _nests_too_deep(data):
        deep = _too_deep(data)  # the same measure, slower, with positions: which key holds it
        raise Unreadable(f"nests deeper than {MAX_DEPTH} levels", _key_between(data, *deep or (-1, -1)))
    bad: list[_Bad] = []

    def refuse(problem: str) -> _Bad:
        bad.append(_Bad(problem))
        return bad[-1]

    def parse_int(literal: str) -> int | _Bad:
        if len(literal) > MAX_DIGITS:
            return refuse(f"holds an integer of {len(literal):,} digits")
        return int(literal)

    def parse_float(literal: str) -> float | _Bad:
        value = float(literal)
        if math.isfinite(value):
            return value
        return refuse(f"holds a number too large for a float ({_cut(literal)})")

    try:
        value = json.loads(
            text,
            parse_int=parse_int,
            parse_float=parse_float,
            parse_constant=lambda name: refuse(f"holds {name}, which is not a JSON number"),
        )
    except json.JSONDecodeError as e:
        raise ValueError(f"is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    if bad:
        raise Unreadable(bad[0].problem, _find(value, lambda v: v is bad[0])[1])
    if _SURROGATE.search(data):  # rare (an escaped surrogate, maybe half a pair): only then look closer
        found, key = _find(value, _lone_surrogate, keys=True)
        if found:
            raise Unreadable("holds a lone surrogate (\\ud800-\\udfff), which is not text", key)
    return value


def _nests_too_deep(data: bytes) -> bool:
    """Whether ``data`` opens more than MAX_DEPTH levels of [ and { outside strings, measured on the
    quotes and brackets alone, once the escapes (a backslash and the character after it) are cut out."""
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return False
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)
    marks = data.translate(None, _NOT_MARKS)
    depth, in_string = 0, False
    for start in range(0, len(marks), _BLOCK):
        block = np.frombuffer(marks, np.uint8, min(_BLOCK, len(marks) - start), start)
        quote = block == ord('"')
        before = np.cumsum(quote, dtype=np.int64) - quote + in_string  # string quotes before each mark
        levels = depth + np.cumsum(np.where(before % 2 == 0, _DELTA[block], 0), dtype=np.int64)
        if levels.max(initial=0) > MAX_DEPTH:
            return True
        depth, in_string = int(levels[-1]), bool((before[-1] + quote[-1]) % 2)
    return False


def _too_deep(data: bytes) -> tuple[int, int] | None:
    """None if ``data`` nests at most MAX_DEPTH levels (outside strings); else where the string of the
    top-level key holding the first deeper level opens and closes ((-1, -1): no such key)."""
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return None
    depth, in_string, escaping = 0, False, False  # carried from block to block
    quotes_before = np.full(2, -1, np.int64)  # the last two string quotes of the blocks before
    key = (-1, -1)
    for start in range(0, len(data), _BLOCK):
        block = np.frombuffer(data, np.uint8, min(_BLOCK, len(data) - start), start)
        at = np.flatnonzero(_CLASS[block])
        kind = _CLASS[block[at]]
        quotes, escaping = _string_quotes(at[kind == 3], at[kind == 4], escaping, len(block))
        # outside strings: after an even number of string quotes (counting the strings open before)
        outside = (np.searchsorted(quotes, at) + in_string) % 2 == 0
        in_string ^= len(quotes) % 2 == 1
        keep = outside & (kind != 3) & (kind != 4)
        at, kind = at[keep], kind[keep]
        levels = depth + np.cumsum(np.where(kind == 1, 1, np.where(kind == 2, -1, 0)), dtype=np.int64)
        over = np.flatnonzero(levels > MAX_DEPTH)
        end = int(over[0]) if len(over) else len(at)
        colons = at[:end][(kind[:end] == 5) & (levels[:end] == 1)]  # each after a top-level key
        every = np.concatenate([quotes_before, quotes + start])
        if len(colons):
            i = int(np.searchsorted(every, colons[-1] + start))
            key = (int(every[i - 2]), int(every[i - 1]))
        if len(over):
            return key
        quotes_before = every[-2:]
        if len(levels):
            depth = int(levels[-1])
    return None


def _string_quotes(
    quotes: np.ndarray, slashes: np.ndarray, escaping: bool, size: int
) -> tuple[np.ndarray, bool]:
    """The ``quotes`` of a block that open or close a string (those after an odd run of backslashes are
    escaped), and whether the block ends in an odd run. ``escaping``: the block before did."""
    if not len(slashes):
        return (quotes[quotes != 0] if escaping else quotes), False
    breaks = np.flatnonzero(np.diff(slashes) != 1)
    first = slashes[np.r_[0, breaks + 1]]
    last = slashes[np.r_[breaks, len(slashes) - 1]]
    odd = (last - first + 1 + ((first == 0) & escaping)) % 2 == 1  # runs of odd length
    run = np.searchsorted(last, quotes - 1).clip(0, len(last) - 1)
    escaped = (last[run] == quotes - 1) & odd[run]
    if escaping:
        escaped |= quotes == 0
    return quotes[~escaped], bool(last[-1] == size - 1 and odd[-1])


def _key_between(data: bytes, open_: int, close: int) -> str | None:
    if open_ < 0:
        return None
    try:
        key = json.loads(data[open_ : close + 1].decode("utf-8"))
    except ValueError:
        return None
    return key if isinstance(key, str) else None


def _find(value: object, test: Callable[[object], bool], *, keys: bool = False) -> tuple[bool, str | None]:
    """Whether some value (or key) in ``value`` passes ``test``, and the top-level key it is under."""
    tops = list(value.items()) if isinstance(value, dict) else [(None, value)]
    for top, item in tops:
        stack = [item, top] if keys else [item]
        while stack:
            v = stack.pop()
            if test(v):
                return True, top
            if isinstance(v, dict):
                stack.extend(v.values())
                if keys:
                    stack.extend(v.keys())
            elif isinstance(v, list):
                stack.extend(v)
    return False, None


def _lone_surrogate(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _cut(text: str) -> str:
    return text if len(text) <= 30 else f"{text[:27]}..."
