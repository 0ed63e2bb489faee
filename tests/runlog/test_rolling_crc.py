"""The search for records after damage (gradviz/runlog/_scan.py), against zlib at every byte: the rolling
crc32 over rows of interleaved registers, in bands; the walk through few candidates and through every
position; and what tells a record gradviz wrote from bytes that pass a crc32."""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest

import gradviz
import gradviz.runlog._rolling as rolling
import gradviz.runlog._scan as scan
from gradviz.records import GradState
from gradviz.runlog import RunWriter
from gradviz.runlog._format import GRADS, grads_dtype


def _record(step: int, size: int, rng: np.random.Generator) -> bytes:
    body = step.to_bytes(8, "little", signed=True) + rng.integers(0, 4, size - 12, np.uint8).tobytes()
    return body + zlib.crc32(body).to_bytes(4, "little")


def _by_zlib(data: bytes, size: int) -> list[int]:
    return [at for at in range(len(data) - size + 1) if zlib.crc32(data[at : at + size]) == rolling.RESIDUE]


def _planted(size: int, length: int, seed: int) -> bytes:
    """``length`` bytes of small values (every top byte 00: every position worth checking) with intact
    records at the start, the end, and at random places, some touching."""
    rng = np.random.default_rng(seed)
    data = bytearray(rng.integers(0, 3, length, np.uint8).tobytes())
    places = {0, max(0, length - size)} | set(rng.integers(0, max(1, length - size), 12).tolist())
    for at in sorted(places):
        if at + 2 * size <= length:
            data[at : at + 2 * size] = _record(5, size, rng) + _record(6, size, rng)
        elif at + size <= length:
            data[at : at + size] = _record(7, size, rng)
    return bytes(data)


@pytest.mark.parametrize("size", [12, 22, 100, 757, 2000])
@pytest.mark.parametrize("rows", [1, 2, 3, 8])
def test_the_rolling_crc_finds_every_intact_window_zlib_finds(size, rows) -> None:
    """Rows of one record or many (the width is a multiple of the record size), an odd number of rows
    (a lane with a row of padding), windows at the end of the bytes."""
    width = size * max(1, round((rolling._DIRECT / 10) ** 0.5 / size))
    for length in (size, size + 1, rows * width + size - 1, rows * width + size, rows * width + 3 * size - 2):
        data = _planted(size, length, seed=size * 31 + rows)
        assert rolling._windows(data, size).tolist() == _by_zlib(data, size), length


def test_a_long_stretch_rolled_in_bands_finds_what_one_band_finds(monkeypatch) -> None:
    data = _planted(757, 400_000, seed=3) + _planted(22, 300_001, seed=4)
    for size in (22, 757):
        one = rolling._windows(data, size).tolist()
        assert one == _by_zlib(data, size)
        monkeypatch.setattr(rolling, "_BAND", 50_000)
        assert rolling.numpy_windows(data, size).tolist() == one
        monkeypatch.undo()


@pytest.fixture
def compiled() -> None:
    """The compiled scanner is there: hatch_build.py builds it with every wheel, also `pip install -e .`;
    a machine without a C compiler skips what needs it, never CI (.ci/run's machine has gcc)."""
    if not rolling.NATIVE:
        message = "gradviz/runlog/_crcscan.c is not compiled (no C compiler when gradviz was installed)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.parametrize("size", [12, 22, 757, 2000])
def test_the_compiled_scanner_finds_every_intact_window_zlib_finds(compiled, size) -> None:
    """One stretch (few positions) and four rolled side by side (the rest of each after the shortest):
    lengths around where they split, windows at the start, the end and where the stretches meet."""
    for count in (1, 2, 4095, 4096, 4097, 4098, 4099, 10_001, 65_536):
        length = count + size - 1
        data = bytearray(_planted(size, length, seed=count + size))
        quarter = -(-count // 4)
        for at in (quarter - 1, quarter, 2 * quarter - size // 2, 3 * quarter + 1):  # across the cuts
            if at >= 0 and at + size <= length:
                data[at : at + size] = _record(9, size, np.random.default_rng(at))
        data = bytes(data)
        expected = _by_zlib(data, size)
        assert rolling.intact_windows(data, size).tolist() == expected, count
        assert rolling.numpy_windows(data, size).tolist() == expected, count
        view = memoryview(data)[1:]  # a slice, as the scanner is called
        assert rolling.intact_windows(view, size).tolist() == [at - 1 for at in expected if at], count


@pytest.mark.parametrize("unit", [b"\x01" + bytes(7), b"\xff", bytes(1), b"\x00\x01\x02"])
def test_the_compiled_scanner_and_numpys_agree_on_crafted_and_random_bytes(compiled, unit) -> None:
    rng = np.random.default_rng(len(unit))
    crafted = (unit * (300_000 // len(unit) + 1))[:300_000]
    noise = rng.integers(0, 256, 200_000, np.uint8).tobytes()
    records = b"".join(_record(step, 757, rng) for step in range(40))
    data = crafted + records + noise + records[:5000] + crafted[:9999]
    for size in (22, 757, 758):
        assert rolling.intact_windows(data, size).tolist() == rolling.numpy_windows(data, size).tolist()
    assert len(rolling.intact_windows(data, 757)) >= 40


def test_the_compiled_scanner_scans_the_shortest_windows(compiled) -> None:
    """Windows of 5 bytes (a byte and its crc32), everywhere in random bytes and in a run of them."""
    rng = np.random.default_rng(5)
    runs = b"".join(bytes([b]) + zlib.crc32(bytes([b])).to_bytes(4, "little") for b in range(256))
    data = rng.integers(0, 256, 50_000, np.uint8).tobytes() + runs
    found = rolling.intact_windows(data, 5).tolist()
    assert found == _by_zlib(data, 5) == rolling.numpy_windows(data, 5).tolist()
    assert len(found) >= 256


def test_the_compiled_scanner_says_what_it_cannot_scan(compiled) -> None:
    with pytest.raises(ValueError, match="size >= 5"):
        rolling._compiled_windows(b"0123456789", 4)
    with pytest.raises(TypeError):
        rolling._compiled_windows("0123456789", 5)
    with pytest.raises((BufferError, TypeError)):  # not contiguous
        rolling._compiled_windows(memoryview(bytes(100))[::2], 5)
    assert rolling._compiled_windows(b"0123", 5) == b""
    assert rolling.intact_windows(b"", 22).tolist() == []


def test_without_the_compiled_scanner_numpys_finds_the_same_records(monkeypatch, tmp_path) -> None:
    """A wheel built without a C compiler: gradviz.open reads a damaged run as with the compiled one."""
    path = tmp_path / "run"
    writer = RunWriter(path, ["a", "b"], weights_every=None, flush_secs=60)
    for step in range(300):
        writer.append(step, np.array([1.0, 2.0], np.float32), np.full(2, GradState.finite, np.uint8))
    writer.close()
    data = bytearray((path / GRADS).read_bytes())
    size = grads_dtype(2).itemsize
    for at in range(5 * size + 3, len(data) - size, 7 * size + 1):
        data[at : at + 2] = b"\xab\xcd"  # damage every few records, and bytes put between
    (path / GRADS).write_bytes(bytes(data[: 40 * size]) + b"junk" + bytes(data[40 * size :]))
    with_compiled = gradviz.open(path).history.steps.tolist()
    monkeypatch.setattr(rolling, "_compiled_windows", None)
    monkeypatch.setattr(scan, "NS_PER_POSITION", 5.0)
    assert gradviz.open(path).history.steps.tolist() == with_compiled
    assert 200 < len(with_compiled) < 300


def _records(steps: list[int], size: int, junk: bytes) -> bytes:
    rng = np.random.default_rng(len(steps))
    return b"".join(_record(step, size, rng) + junk for step in steps)


@pytest.mark.parametrize(
    "steps",
    [
        list(range(1, 200)),  # small steps, a byte of junk after each record
        [1 + (k << 40) for k in range(40)],  # each a whole span past the last: the walk climbs past its bound
        [3, 2, 9, 1 << 50, 10, -1, 11],  # out of order, one too far, the end record
    ],
)
def test_a_walk_through_few_candidates_takes_what_a_walk_through_every_position_takes(
    monkeypatch, steps
) -> None:
    size = 22
    data = b"\xee" + _records(steps, size, b"\xee")
    span = 1 << 40
    layout = scan.Layout.of(grads_dtype(2), has_end=True)
    few = scan.walk(data, layout, 0, span, 0)
    monkeypatch.setattr(scan, "_few", lambda count, size: -1)  # every position, rolling
    every = scan.walk(data, layout, 0, span, 0)
    assert few._replace(taken=few.taken.tolist(), gaps=sorted(few.gaps.tolist())) == every._replace(
        taken=every.taken.tolist(), gaps=sorted(every.gaps.tolist())
    )
    assert len(every.taken) >= 3


def _crc_valid(record: bytes) -> bytes:
    body = record[:-4]
    return body + zlib.crc32(body).to_bytes(4, "little")


@pytest.mark.parametrize(
    "forge",
    [
        lambda r: r[:8] + r[8:10] + np.float32(-1.0).tobytes() + r[14:],  # a norm below zero
        lambda r: (-1).to_bytes(8, "little", signed=True) + r[8:],  # an end marker with norms in it
        lambda r: (1 << 50).to_bytes(8, "little") + r[8:],  # a step no run reaches
    ],
)
def test_a_record_that_passes_its_crc32_but_no_writer_writes_is_dropped(tmp_path, forge) -> None:
    """NOTE [a record gradviz wrote]: read in sequence, the forged record is damage (one record dropped);
    every other record is read, and a forged end marker does not end the run."""
    names = ["enc.weight", "enc.bias"]
    writer = RunWriter(tmp_path / "run", names, weights_every=2, model="Net", optimizer="SGD")
    for step in range(8):
        writer.append(step, np.full(2, step + 1.0, np.float32), np.full(2, GradState.finite, np.uint8))
    writer.close()
    path = tmp_path / "run" / GRADS
    data = path.read_bytes()
    size = 12 + 5 * 2
    forged = _crc_valid(forge(data[3 * size : 4 * size]))
    assert zlib.crc32(forged) == rolling.RESIDUE  # it passes its crc32
    path.write_bytes(data[: 3 * size] + forged + data[4 * size :])
    opened = gradviz.open(tmp_path / "run", max_steps=None)
    assert opened.history.steps.tolist() == [0, 1, 2, 4, 5, 6, 7]
    assert (opened.dropped, opened.live) == (1, False)


def test_damage_after_every_record_is_walked_along_its_chain_to_the_end_record() -> None:
    """The records a byte of junk follows each, then the end record: one chain, checked at once (no
    crc32 of every candidate), which takes what the rule takes (149 parameters: enough floats to tell a
    record from the same bytes shifted by one without a crc32)."""
    layout = scan.Layout.of(grads_dtype(149), has_end=True)
    rng = np.random.default_rng(0)
    records = []
    for step in range(1, 300):  # as the writer writes them: states 2, norms of gradients
        record = np.zeros((), grads_dtype(149))
        record["step"], record["state"], record["grad_norm"] = step, 2, rng.random(149, np.float32) * 3
        records.append(_crc_valid(record.tobytes()) + b"\xee")
    data = b"\xee" + b"".join(records) + layout.end
    maybe = np.flatnonzero(scan._maybe(data, len(data) - layout.size + 1))
    candidates = np.union1d(scan._sane(data, layout, maybe), [len(data) - layout.size])
    chain = scan._chain(data, layout, candidates, 0, 1 << 40, 0, {len(data) - layout.size})
    assert chain is not None
    walked = scan.walk(data, layout, 0, 1 << 40, 0)
    assert chain.tolist() == walked.taken.tolist() and walked.ended and len(walked.taken) == 300
