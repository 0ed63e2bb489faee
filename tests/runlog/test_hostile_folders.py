"""gradviz.open on run folders made to hurt it: JSON nested too deep, JSON numbers and strings no run
holds, a header naming a huge number of parameters over few records, a record file crafted to be slow
to search after damage (gradviz/runlog/_json.py, gradviz/runlog/_scan.py, the note in _reader.py)."""

from __future__ import annotations

import json
import random
import struct
import sys
import tracemalloc
import zlib

import numpy as np
import pytest

import gradviz
import gradviz.runlog._record_file as record_file
import gradviz.runlog._rolling as rolling
import gradviz.runlog._scan as scan
from gradviz.records import GradState
from gradviz.runlog import RunWriter
from gradviz.runlog._format import END_STEP, GRADS, GRAPH, HEADER, grads_dtype, weights_dtype
from gradviz.runlog._header import check_header
from gradviz.runlog._json import MAX_DEPTH

NAMES = ["enc.weight", "enc.bias"]
P = len(NAMES)
G = 12 + 5 * P  # bytes of a grads record


def _run(path, n: int = 4, *, names: list[str] = NAMES, close: bool = True):
    w = RunWriter(path, names, weights_every=2, model="Net", optimizer="SGD")
    p = len(names)
    for i in range(n):
        weights = (np.full(p, 10.0 + i, np.float32), np.full(p, 1e-3, np.float32)) if i % 2 == 0 else ()
        w.append(i, np.full(p, i + 1.0, np.float32), np.full(p, GradState.finite, np.uint8), *weights)
    if close:
        w.close()
    return path


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def _with_field(path, field: str, raw: str) -> None:
    """Set header field ``field`` to the JSON text ``raw``, as it stands (not re-encoded)."""
    header = json.loads((path / HEADER).read_text(encoding="utf-8"))
    header[field] = "@@field@@"
    (path / HEADER).write_text(json.dumps(header).replace('"@@field@@"', raw), encoding="utf-8")


# -- JSON nested too deep ----------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 100_000])
def test_a_deeply_nested_graph_is_left_out_and_said(tmp_path, levels) -> None:
    run = _run(tmp_path / "run")
    (run / GRAPH).write_text('{"graph": {"extra": ' + _nested(levels - 2) + "}}", encoding="utf-8")
    opened = gradviz.open(run)
    assert opened.history.steps.tolist() == [0, 1, 2, 3] and opened._reader.graph is None
    assert f"{GRAPH} left out: it nests deeper than {MAX_DEPTH} levels (under 'graph')" in repr(opened)
    opened._state()  # the widget state builds without the graph


def test_a_graph_nested_up_to_the_bound_and_brackets_in_strings_are_read(tmp_path) -> None:
    run = _run(tmp_path / "run")
    label = "[{" * 50_000 + '\\"[' * 1000 + "\\\\"  # brackets, escaped quotes, a final escaped backslash
    graph = '{"graph": {"title": "' + label + '", "extra": ' + _nested(MAX_DEPTH - 2) + "}}"
    (run / GRAPH).write_text(graph, encoding="utf-8")
    opened = gradviz.open(run)
    assert "left out" not in repr(opened)
    assert (
        opened._reader.graph is not None
        and opened._reader.graph[0]["title"] == json.loads(graph)["graph"]["title"]
    )


@pytest.mark.parametrize("field", ["names", "grads", "extra"])
def test_a_deeply_nested_header_field_is_a_value_error_naming_it(tmp_path, field) -> None:
    run = _run(tmp_path / "run")
    _with_field(run, field, _nested(100_000))
    with pytest.raises(ValueError, match=f"header.json field '{field}' nests deeper than {MAX_DEPTH} levels"):
        gradviz.open(run)


def test_a_header_nested_too_deep_at_its_top_is_a_value_error(tmp_path) -> None:
    run = _run(tmp_path / "run")
    (run / HEADER).write_text(_nested(100_000), encoding="utf-8")
    with pytest.raises(ValueError, match=f"header.json nests deeper than {MAX_DEPTH} levels") as info:
        gradviz.open(run)
    assert type(info.value) is ValueError


# -- JSON numbers and strings ------------------------------------------------------------------------------

_NUMBERS_AND_STRINGS = {
    "NaN": ("every", "NaN", "holds NaN, which is not a JSON number"),
    "Infinity": ("rank", "Infinity", "holds Infinity"),
    "-Infinity": ("world_size", "-Infinity", "holds -Infinity"),
    "a float past the largest": ("every", "1e999", r"holds a number too large for a float \(1e999\)"),
    "an endless integer": ("every", "9" * 5000, "holds an integer of 5,000 digits"),
    "an integer past int64": (
        "every",
        str(2**63),
        r"should be an int >= 1 \(an int64\), got number 9223372036854775808",
    ),
    "a rank past int64": ("rank", str(2**64), r"should be an int >= 0 \(an int64\)"),
    "NaN inside a field": ("grads", '{"file": "grads.bin", "record_bytes": NaN}', "holds NaN"),
    "NaN in an unknown field": ("extra", "[1, NaN]", "holds NaN"),
    "a lone surrogate in a name": ("names", '["\\ud800", "enc.bias"]', "holds a lone surrogate"),
    "a lone low surrogate in the model": ("model", '"x\\udfff"', "holds a lone surrogate"),
    "a lone surrogate as a key": ("extra", '{"\\udbff": 1}', "holds a lone surrogate"),
    "a surrogate pair then a lone one": ("model", '"\\ud83d\\ude00\\ud83d"', "holds a lone surrogate"),
}


@pytest.mark.parametrize("label", list(_NUMBERS_AND_STRINGS))
def test_json_numbers_and_strings_no_run_holds_are_a_value_error_naming_the_field(tmp_path, label) -> None:
    field, raw, message = _NUMBERS_AND_STRINGS[label]
    run = _run(tmp_path / "run")
    _with_field(run, field, raw)
    with pytest.raises(ValueError, match=f"header.json field '{field}'.*{message}") as info:
        gradviz.open(run)
    assert type(info.value) is ValueError


def test_a_surrogate_pair_is_text(tmp_path) -> None:
    run = _run(tmp_path / "run")
    _with_field(run, "model", '"Net \\ud83d\\ude00"')
    assert gradviz.open(run).header["model"] == "Net \N{GRINNING FACE}"


def test_a_million_digit_integer_is_never_converted(tmp_path, monkeypatch) -> None:
    """With the interpreter's digit limit lifted, int() of a million digits takes quadratic time: the
    literal is refused by its length, never converted."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        run = _run(tmp_path / "run")
        _with_field(run, "every", "7" * 1_000_000)
        with pytest.raises(ValueError, match="field 'every' holds an integer of 1,000,000 digits"):
            gradviz.open(run)
    finally:
        sys.set_int_max_str_digits(limit)


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        ('{"graph": {"nodes": [{"norm": NaN}]}}', "holds NaN"),
        ('{"graph": {"title": "\\udc80"}}', "holds a lone surrogate"),
        ('{"graph": {"n": ' + "1" * 100 + "}}", "holds an integer of 100 digits"),
    ],
)
def test_a_graph_with_json_no_run_holds_is_left_out_and_said(tmp_path, graph, message) -> None:
    run = _run(tmp_path / "run")
    (run / GRAPH).write_text(graph, encoding="utf-8")
    opened = gradviz.open(run)
    text = repr(opened)
    assert opened._reader.graph is None and f"{GRAPH} left out: it {message}" in text
    assert "(under 'graph')" in text
    opened._state()


# -- a header of many names over few records ---------------------------------------------------------------


def _traced_peak(function) -> int:
    """Peak bytes traced by tracemalloc while ``function`` runs (numpy's buffers included)."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        function()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()


@pytest.mark.parametrize(("records", "max_steps"), [(0, 2048), (2, 2048), (2, None)])
def test_a_header_of_many_names_allocates_from_the_records_read(tmp_path, records, max_steps) -> None:
    """200,000 names (2 MB of header) over no records or two: what open allocates beyond parsing the
    header is bounded by the records (before: 64 rows of 13 bytes per name, 166 MB, up front; 17 GB
    at the 64 MB header limit)."""
    names = [f"p{i}" for i in range(200_000)]
    run = _run(tmp_path / "run", records, names=names, close=False)
    data = (run / HEADER).read_bytes()
    record_files = (run / GRADS).stat().st_size + (run / "weights.bin").stat().st_size
    parse = _traced_peak(lambda: check_header(data, "run"))

    def open_and_read() -> None:
        opened = gradviz.open(run, max_steps=max_steps)
        assert len(opened.history) == records

    peak = _traced_peak(open_and_read)
    # the parsed header and a few lists of the names (8 bytes each), the rows read (13 bytes per name
    # each, from 5 + 8 on disk), their copy in the history
    assert peak <= 2 * parse + 3 * record_files + (4 << 20), (peak, parse, record_files)


# -- a record file crafted to be slow to search ------------------------------------------------------------


def _record(step: int, fill: int = 1, size: int = G) -> bytes:
    body = step.to_bytes(8, "little", signed=True) + bytes([fill % 256]) * (size - 12)
    return body + zlib.crc32(body).to_bytes(4, "little")


def _intact(data: bytes, at: int, size: int, layout: scan.Layout | None = None) -> bool:
    """Whether gradviz wrote the record at ``at``: its crc32, a step in [0, 2**48) or the end record byte
    for byte, no float below zero (NOTE [a record gradviz wrote])."""
    layout = layout or scan.Layout.of(grads_dtype(P), has_end=True)
    record = data[at : at + size]
    if zlib.crc32(record[:-4]) != int.from_bytes(record[-4:], "little"):
        return False
    step = int.from_bytes(record[:8], "little", signed=True)
    if step == END_STEP:
        return record == layout.end
    floats = struct.unpack(f"<{layout.nfloats}f", record[layout.floats : size - 4])
    return 0 <= step < 1 << 48 and not any(f < 0 for f in floats)


def _reference(data: bytes, size: int) -> tuple[list[int], int, int, bool]:
    """What a reader of a whole closed file takes, searching byte by byte with zlib after damage: the steps
    read, the bytes skipped, the records dropped, whether the end record was reached."""
    step = lambda at: int.from_bytes(data[at : at + 8], "little", signed=True)  # noqa: E731
    offset, last, steps, skipped, dropped = 0, -1, [], 0, 0
    while offset + size <= len(data):
        if _intact(data, offset, size):
            if step(offset) == END_STEP:
                return steps, skipped, dropped, True
            last = step(offset)
            steps.append(last)
            offset += size
            continue
        found = next(
            (
                at
                for at in range(offset + 1, len(data) - size + 1)
                if _intact(data, at, size)
                and (step(at) == END_STEP or last < step(at) <= last + record_file._STEP_SPAN)
                and any(data[at : at + size])
            ),
            None,
        )
        if found is None:
            break
        skipped, dropped = skipped + found - offset, dropped + max(1, round((found - offset) / size))
        offset = found
    return steps, skipped, dropped, False


_FF = b"\xff" * 40_000  # every position holds step -1 (the end marker): each one worth a crc32
_SPARSE = (b"\x01" + bytes(7)) * 5_000  # 5 positions in 8 hold a small step
_CRAFTED = {
    "end markers everywhere": lambda r: r[: 5 * G] + _FF + r[5 * G :],
    "end markers first": lambda r: _FF + r,
    "small steps everywhere": lambda r: r[: 5 * G] + _SPARSE + r[5 * G :],
    "small steps first": lambda r: _SPARSE + r,
    "intact records that cannot follow": lambda r: (
        r[: 5 * G] + _FF + _record(2) + _record(1 << 50) + _FF + _record(7, 3) + _FF + r[5 * G :]
    ),
    "an intact end marker hidden": lambda r: r[: 5 * G] + _FF + _record(END_STEP, 0) + _FF + r[5 * G :],
    "zeros and a record of zeros": lambda r: r[: 5 * G] + bytes(30_000) + _FF + r[5 * G :],
    "nothing intact after": lambda r: r[: 5 * G] + _FF,
    "shifted by 3 bytes": lambda r: r[: 5 * G + 7] + b"\xff\xff\xff" + r[5 * G + 7 :],
    "a byte of junk after every record": lambda r: b"".join(_record(step) + b"\xee" for step in range(3000)),
    "junk after every record, some records out of order": lambda r: b"".join(
        _record(step if step % 7 else 2) + b"\xee" * (step % 3) for step in range(3000)
    ),
}


@pytest.mark.parametrize("search", [1 << 20, 4096])
@pytest.mark.parametrize("label", list(_CRAFTED))
def test_a_crafted_record_file_reads_as_a_byte_by_byte_search_reads_it(
    tmp_path, monkeypatch, label, search
) -> None:
    """The records taken, skipped and dropped are those a search with zlib at every byte finds (in one
    search window, and in windows of 4 KB: a search that goes on from one window to the next)."""
    monkeypatch.setattr(record_file, "_SCAN", search)
    run = _run(tmp_path / "run", 12)
    data = _CRAFTED[label]((run / GRADS).read_bytes())
    (run / GRADS).write_bytes(data)
    steps, skipped, dropped, ended = _reference(data, G)
    opened = gradviz.open(run, max_steps=None)
    assert opened.history.steps.tolist() == steps
    assert (opened.skipped_bytes, opened.dropped, opened.live) == (skipped, dropped, not ended)
    if not ended:
        assert opened.unread_bytes == len(data) - (skipped + G * len(steps))


def _first_by_zlib(data: bytes, layout: scan.Layout, last: int, span: int) -> int | None:
    for at in range(len(data) - layout.size + 1):
        step = int.from_bytes(data[at : at + 8], "little", signed=True)
        plausible = step == END_STEP or last < step <= last + span
        if plausible and _intact(data, at, layout.size, layout):
            return at
    return None


_LAYOUTS = {  # a grads.bin of 0, 2 and 149 parameters, a weights.bin of 200
    12: scan.Layout.of(grads_dtype(0), has_end=True),
    G: scan.Layout.of(grads_dtype(P), has_end=True),
    757: scan.Layout.of(grads_dtype(149), has_end=True),
    1612: scan.Layout.of(weights_dtype(200), has_end=False),
}


@pytest.mark.parametrize("size", list(_LAYOUTS))  # 1612: long records
def test_the_rolling_crc_finds_the_positions_zlib_finds(size) -> None:
    layout = _LAYOUTS[size]
    rng = np.random.default_rng(size)
    parts = []
    for i in range(6):
        noise = [rng.integers(0, 256, 300, np.uint8).tobytes(), b"\xff" * 3000, bytes(700)][i % 3]
        parts += [noise, _record(int(rng.integers(-1, 4)), int(rng.integers(0, 3)), size)]
    data = b"".join(parts) + b"\xff" * (size - 1)
    found = rolling.intact_windows(data, size).tolist()
    assert found == [
        at for at in range(len(data) - size + 1) if zlib.crc32(data[at : at + size]) == rolling.RESIDUE
    ]
    assert len(found) >= 5  # the records put there (a record of zeros may be one too)
    for last in (-1, 0, 2, 1 << 50):
        for start in range(0, len(data), 1777):
            window = data[start:]
            assert scan.first_intact(window, layout, last, 1 << 40) == _first_by_zlib(
                window, layout, last, 1 << 40
            )


def _damaged(rng: random.Random, data: bytes) -> bytes:
    """``data`` with up to 12 random damages: bytes inserted (zeros, end markers, noise, intact records,
    records each followed by junk), cut out, or flipped."""
    out = bytearray(data)
    for _ in range(rng.randint(0, 12)):
        at, n = rng.randint(0, len(out)), rng.randint(1, 60)
        kind = rng.randrange(7)
        if kind == 0:
            out[at:at] = bytes(n)
        elif kind == 1:
            out[at:at] = b"\xff" * 5 * n
        elif kind == 2:
            del out[at : at + n // 2]
        elif kind == 3 and at < len(out):
            out[at] ^= 1 << rng.randrange(8)
        elif kind == 4:
            out[at:at] = _record(rng.randint(-2, 60), rng.randrange(256))
        elif kind == 5:
            out[at:at] = rng.randbytes(n)
        else:
            out[at:at] = (_record(rng.randint(0, 40)) + b"\xee") * (n // 3)
    return bytes(out)


def test_randomly_damaged_record_files_read_as_a_byte_by_byte_search_reads_them(
    tmp_path, monkeypatch
) -> None:
    """Random damage, read with the reader's sizes at random (reads, walks and searches of a few bytes
    to a megabyte): the same records taken, bytes skipped, records dropped and bytes left unread."""
    rng = random.Random(18)
    valid = (_run(tmp_path / "valid", 30) / GRADS).read_bytes()
    for trial in range(150):
        run = _run(tmp_path / f"run{trial}", 30)
        data = _damaged(rng, valid)
        (run / GRADS).write_bytes(data)
        monkeypatch.setattr(record_file, "_SCAN", rng.choice([1 << 20, 4096, 64]))
        monkeypatch.setattr(record_file, "_SCAN_FIRST", rng.choice([4096, 100, 32]))
        monkeypatch.setattr(record_file, "_AFTER_DAMAGE", rng.choice([16, 3, 1]))
        monkeypatch.setattr(record_file, "_CHUNK", rng.choice([4 << 20, 200, 50]))
        steps, skipped, dropped, ended = _reference(data, G)
        opened = gradviz.open(run, max_steps=None)
        assert opened.history.steps.tolist() == steps, trial
        assert (opened.skipped_bytes, opened.dropped, opened.live) == (skipped, dropped, not ended), trial
        if not ended:
            assert opened.unread_bytes == len(data) - (skipped + G * len(steps)), trial
