"""gradviz.open on a run folder from anyone: paths, non-regular files, broken headers, corrupt bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import zlib

import numpy as np
import pytest

import gradviz
from gradviz.records import GradState, StepBuffer
from gradviz.runlog import RunWriter
from gradviz.runlog._format import GRADS, GRAPH, HEADER, WEIGHTS, grads_dtype, weights_dtype

NAMES = ["enc.weight", "enc.bias"]
P = len(NAMES)
G = 12 + 5 * P  # bytes of a grads record
W = 12 + 8 * P  # bytes of a weights record


def _rows(n: int):
    """Rows of a run: step i, norms i + 1 and i + 1.5, weights on even steps; NaN at step 7."""
    for i in range(n):
        grad = np.array([i + 1, i + 1.5], np.float32)
        state = np.full(P, GradState.finite, np.uint8)
        if i == 7:
            grad[1], state[1] = np.nan, GradState.nonfinite
        weights = (np.full(P, 10.0 + i, np.float32), np.full(P, 1e-3, np.float32)) if i % 2 == 0 else None
        yield i, grad, state, weights


def _run(path, n: int = 40, *, close: bool = True):
    w = RunWriter(path, NAMES, weights_every=2, model="Net", optimizer="SGD")
    for step, grad, state, weights in _rows(n):
        w.append(step, grad, state, *(weights or ()))
    if close:
        w.close()
    return path


def _set_header(path, **fields) -> None:
    header = json.loads((path / HEADER).read_text(encoding="utf-8"))
    header.update(fields)
    (path / HEADER).write_text(json.dumps(header), encoding="utf-8")


def _open_with_deadline(path, seconds: float = 20.0):
    """gradviz.open in a thread: a call that blocks (a FIFO read) fails the test instead of hanging it."""
    result: dict = {}

    def target() -> None:
        try:
            result["run"] = gradviz.open(path)
        except BaseException as e:
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"gradviz.open({path}) blocked for {seconds} s"
    if "error" in result:
        raise result["error"]
    return result["run"]


# -- paths and files ---------------------------------------------------------------------------------------


def test_record_paths_outside_the_folder_are_refused(tmp_path) -> None:
    outside = _run(tmp_path / "other")
    cases = {
        "absolute": ("/dev/zero", "absolute path"),
        "parent": ("../other/grads.bin", "outside the run folder"),
        "deep parent": ("sub/../../other/grads.bin", "outside the run folder"),
        "the folder itself": (".", "outside the run folder"),
    }
    for label, (name, message) in cases.items():
        run = _run(tmp_path / label)
        _set_header(run, grads={"file": name, "record_bytes": G})
        with pytest.raises(ValueError, match=message):
            _open_with_deadline(run)
    for label, target in (("to /dev/zero", "/dev/zero"), ("to a run outside", outside / GRADS)):
        run = _run(tmp_path / f"link {label}")
        for name in (GRADS, WEIGHTS):
            (run / name).unlink()
            (run / name).symlink_to(target)
        with pytest.raises(ValueError, match=f"{GRADS}' is outside the run folder"):
            _open_with_deadline(run)
    run = _run(tmp_path / "header link")
    (run / HEADER).unlink()
    (run / HEADER).symlink_to(outside / HEADER)
    with pytest.raises(ValueError, match=f"{HEADER}' is outside the run folder"):
        _open_with_deadline(run)


def test_a_symlink_inside_the_folder_and_a_linked_folder_are_read(tmp_path) -> None:
    run = _run(tmp_path / "run", 6)
    (run / "data").mkdir()
    (run / GRADS).rename(run / "data" / GRADS)
    (run / GRADS).symlink_to(run / "data" / GRADS)  # a link that stays inside
    (tmp_path / "alias").symlink_to(run)  # the folder itself reached through a link
    for path in (run, tmp_path / "alias"):
        opened = _open_with_deadline(path)
        assert not opened.live and opened.history.steps.tolist() == list(range(6))


@pytest.mark.parametrize("name", [GRADS, WEIGHTS, HEADER])
def test_a_fifo_never_blocks(tmp_path, name) -> None:
    run = _run(tmp_path / "run")
    (run / name).unlink()
    os.mkfifo(run / name)
    with pytest.raises(ValueError, match=f"'{name}' is not a regular file \\(a FIFO\\)"):
        _open_with_deadline(run)


def test_a_directory_in_place_of_a_file_is_refused(tmp_path) -> None:
    run = _run(tmp_path / "run")
    (run / GRADS).unlink()
    (run / GRADS).mkdir()
    with pytest.raises(ValueError, match="not a regular file \\(a directory\\)"):
        _open_with_deadline(run)


def test_a_bad_graph_json_is_left_out_and_said(tmp_path) -> None:
    fifo = _run(tmp_path / "fifo", 4)
    os.mkfifo(fifo / GRAPH)
    broken = _run(tmp_path / "broken", 4)
    (broken / GRAPH).write_text('{"graph": [1, 2]}', encoding="utf-8")
    not_b64 = _run(tmp_path / "b64", 4)
    (not_b64 / GRAPH).write_text('{"graph": {}, "edge_norms": "%%%", "hists": ""}', encoding="utf-8")
    for path, message in ((fifo, "a FIFO"), (broken, "expected an object"), (not_b64, "not base64")):
        run = _open_with_deadline(path)
        assert run.history.steps.tolist() == [0, 1, 2, 3] and run._reader.graph is None
        assert f"{GRAPH} left out" in repr(run) and message in repr(run)
        run._state()  # the widget state builds without a graph


def test_header_and_graph_sizes_are_bounded(tmp_path, monkeypatch) -> None:
    import gradviz.runlog._reader as runread

    run = _run(tmp_path / "run", 3)
    with open(run / GRAPH, "wb") as f:  # sparse: no disk used
        f.truncate(runread._GRAPH_MAX + 1)
    opened = _open_with_deadline(run)
    assert "more than the" in repr(opened) and opened._reader.graph is None
    monkeypatch.setattr(runread, "_HEADER_MAX", 100)
    with pytest.raises(ValueError, match=r"header\.json is .* bytes, more than the 100 gradviz reads"):
        _open_with_deadline(run)


# -- broken headers ----------------------------------------------------------------------------------------

_BROKEN = {
    "empty": (b"", "header.json is empty"),
    "blank": (b" \n\t", "header.json is empty"),
    "a list": (b'[{"format": "gradviz-run"}]', "holds a JSON list"),
    "a number": (b"3", "holds a JSON number"),
    "not json": (b'{"format": "gradviz-run",', "not valid JSON"),
    "not utf-8": (b'{"names": ["\xff\xfe"]}', "not UTF-8"),
    "other format": (b'{"format": "tensorboard", "version": 1}', "holds format 'tensorboard'"),
}


@pytest.mark.parametrize("label", list(_BROKEN))
def test_a_broken_header_is_a_clear_value_error(tmp_path, label) -> None:
    data, message = _BROKEN[label]
    run = _run(tmp_path / "run")
    (run / HEADER).write_bytes(data)
    with pytest.raises(ValueError, match=message) as info:
        gradviz.open(run)
    assert type(info.value) is ValueError  # not json.JSONDecodeError / UnicodeDecodeError


_FIELDS = ["names", "every", "weights_every", "grads", "weights", "model", "optimizer", "rank", "world_size"]
_VALUES = [None, True, -1, 0, 2.5, "x", [], ["a", 1], {}, {"file": 3}, {"file": GRADS}]


def test_every_field_of_every_wrong_type_is_a_value_error_naming_it(tmp_path) -> None:
    """Each field missing, and replaced by each kind of JSON value: a ValueError naming the field, or
    (where the value happens to be valid) a run that opens; never KeyError, TypeError, AttributeError."""
    base = _run(tmp_path / "run", 4)
    original = json.loads((base / HEADER).read_text(encoding="utf-8"))
    opened = 0
    for field in _FIELDS:
        for value in [*_VALUES, "missing"]:
            header = dict(original)
            if value == "missing":
                del header[field]
            else:
                header[field] = value
            (base / HEADER).write_text(json.dumps(header), encoding="utf-8")
            run, error = _try_open(base)
            if error is not None:
                assert type(error) is ValueError and field in str(error), (field, value, error)
                continue
            opened += 1  # e.g. weights_every null, optimizer null, model missing: still a valid run
            assert run.history.steps.tolist() == [0, 1, 2, 3], (field, value)
    assert 0 < opened < len(_FIELDS) * 3


def _try_open(path):
    try:
        return gradviz.open(path), None
    except ValueError as e:
        return None, e


def test_a_header_whose_record_size_does_not_match_its_names_is_refused(tmp_path) -> None:
    run = _run(tmp_path / "run")
    _set_header(run, names=[*NAMES, "extra"])
    with pytest.raises(
        ValueError, match=f"'record_bytes' should be {12 + 5 * 3} for 3 names, got number {G}"
    ):
        gradviz.open(run)


# -- corrupt bytes -----------------------------------------------------------------------------------------


def _expected_rows(skip: set[int], n: int = 40) -> tuple[list[int], np.ndarray]:
    rows = [(step, grad) for step, grad, _, _ in _rows(n) if step not in skip]
    return [s for s, _ in rows], np.array([g for _, g in rows])


def _damage(path, edit) -> None:
    data = bytearray((path / GRADS).read_bytes())
    (path / GRADS).write_bytes(bytes(edit(data)))


@pytest.mark.parametrize(
    ("label", "edit", "lost", "skipped"),
    [
        (
            "a byte flipped",
            lambda d: d[: 10 * G + 9] + bytes([d[10 * G + 9] ^ 1]) + d[10 * G + 10 :],
            {10},
            G,
        ),
        ("5 bytes inserted", lambda d: d[: 10 * G + 9] + b"12345" + d[10 * G + 9 :], {10}, G + 5),
        ("5 bytes cut out", lambda d: d[: 10 * G + 9] + d[10 * G + 14 :], {10}, G - 5),
        ("cut across 2 records", lambda d: d[: 10 * G + 20] + d[11 * G + 3 :], {10, 11}, G + G - 5),
        ("1 MB of noise inserted", lambda d: d[: 10 * G] + os.urandom(1 << 20) + d[10 * G :], set(), 1 << 20),
        ("64 KB of zeros first", lambda d: bytes(1 << 16) + d, set(), 1 << 16),
        ("records 3-5 zeroed", lambda d: d[: 3 * G] + bytes(3 * G) + d[6 * G :], {3, 4, 5}, 3 * G),
    ],
)
def test_corrupt_bytes_in_a_closed_run_are_skipped_and_counted(tmp_path, label, edit, lost, skipped) -> None:
    run = _run(tmp_path / "run")
    _damage(run, edit)
    opened = _open_with_deadline(run)
    h = opened.history
    steps, grads = _expected_rows(lost)
    assert not opened.live, "the end record after the damage was found: the run closed"
    assert h.steps.tolist() == steps
    np.testing.assert_array_equal(h.grad_norm, grads)
    assert opened.skipped_bytes == skipped and opened.missing_steps == len(lost)
    assert opened.dropped >= (1 if lost else 0)
    text = repr(opened)
    assert "closed" in text and f"{skipped:,} corrupt bytes skipped" in text
    assert (f"{len(lost)} recorded step" if lost else "no step missing") in text
    assert h.first_nonfinite == (7, "enc.bias")
    # the weights still land on their own steps
    weighted = [i for i, s in enumerate(h.steps) if s % 2 == 0]
    np.testing.assert_array_equal(h.param_norm[weighted, 0], 10.0 + h.steps[weighted])


def test_a_damaged_tail_is_not_presented_as_a_live_run(tmp_path) -> None:
    run = _run(tmp_path / "run")
    _damage(run, lambda d: d[: -G - 3] + os.urandom(3 * G))  # the last record and the end record torn
    opened = _open_with_deadline(run)
    assert opened.live and opened.unread_bytes == (G - 3) + 3 * G
    text = repr(opened)
    assert "not closed" in text and "no end record" in text and "not intact records" in text
    assert opened.history.steps.tolist() == list(range(39))


def test_a_record_being_written_is_not_called_damage(tmp_path) -> None:
    run = _run(tmp_path / "run", close=False)
    with open(run / GRADS, "ab") as f:
        f.write(b"\x07" * (G - 1))  # a record whose last byte has not arrived yet
    opened = _open_with_deadline(run)
    assert opened.live and opened.unread_bytes == G - 1 and opened.skipped_bytes == 0
    assert "live" in repr(opened) and "damaged" not in repr(opened) and "not closed" not in repr(opened)


# -- the documented format (as gradviz 0.1 writes it) -------------------------------------------------------


def _record(dtype: np.dtype, **fields) -> bytes:
    rec = np.zeros((), dtype)
    for key, value in fields.items():
        rec[key] = value
    body = rec.tobytes()[:-4]
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_a_log_in_the_documented_format_reads_unchanged(tmp_path) -> None:
    """Files built by hand from the format in gradviz/runlog/_format.py (no RunWriter): what 0.1 wrote."""
    run = tmp_path / "v01"
    run.mkdir()
    header = {
        "format": "gradviz-run",
        "version": 1,
        "names": NAMES,
        "every": 3,
        "weights_every": 2,
        "model": "Net",
        "optimizer": "AdamW",
        "rank": 0,
        "world_size": 1,
        "created": "2025-01-31T12:00:00Z",
        "grads": {"file": "grads.bin", "record_bytes": G},
        "weights": {"file": "weights.bin", "record_bytes": W},
    }
    (run / HEADER).write_text(json.dumps(header, indent=1), encoding="utf-8")
    gd, wd = grads_dtype(P), weights_dtype(P)
    assert gd.itemsize == G and wd.itemsize == W
    grads = b"".join(
        _record(gd, step=3 * i, state=[2, 0], grad_norm=[i, np.nan]) for i in range(5)
    ) + _record(gd, step=-1)
    weights = b"".join(
        _record(wd, step=3 * i, param_norm=[5, 6], update_ratio=[0.1, np.nan]) for i in (0, 2, 4)
    )
    (run / GRADS).write_bytes(grads)
    (run / WEIGHTS).write_bytes(weights)
    opened = gradviz.open(run)
    h = opened.history
    assert not opened.live and opened.dropped == 0 and opened.skipped_bytes == 0 and opened.unread_bytes == 0
    assert h.steps.tolist() == [0, 3, 6, 9, 12] and h.every == 3 and h.weights_every == 2
    np.testing.assert_array_equal(h.grad_norm[:, 0], [0, 1, 2, 3, 4])
    assert (h.state[:, 1] == GradState.none).all() and np.isnan(h.grad_norm[:, 1]).all()
    np.testing.assert_array_equal(h.param_norm[[0, 2, 4], 0], [5, 5, 5])
    assert np.isnan(h.param_norm[[1, 3]]).all()
    assert opened.header["optimizer"] == "AdamW" and "Net with AdamW" in repr(opened)


# -- bounded memory ----------------------------------------------------------------------------------------

_MEASURE = textwrap.dedent(
    """
    import json, resource, sys, tracemalloc
    import gradviz
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    run = gradviz.open(sys.argv[1])
    history = run.history
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"rss": peak - before, "traced": traced, "rows": len(history),
                      "steps": run._reader.steps_read, "stride": history.stride}))
    """
)


@pytest.mark.slow
def test_open_reads_a_large_log_in_bounded_memory(tmp_path) -> None:
    """A ~40 MB log (12k steps of 600 parameters) opens with its memory growth under 1.5x its size
    (benchmarks/open_memory.py measures a 500 MB one), and shows the rows watch would have kept."""
    names = [f"layer{i}.weight" for i in range(600)]
    w = RunWriter(tmp_path / "big", names, weights_every=100, flush_secs=60)
    rng = np.random.default_rng(0)
    grad = rng.random((64, len(names)), dtype=np.float32)
    state = np.full(len(names), GradState.finite, np.uint8)
    weights = (np.ones(len(names), np.float32), np.ones(len(names), np.float32))
    buffer = StepBuffer(names, 2048, 1, 100)
    for step in range(12_000):
        w.append(step, grad[step % 64], state, *(weights if step % 100 == 0 else ()))
        buffer.append(step, grad[step % 64], state, *(weights if step % 100 == 0 else ()))
    w.close()
    size = (tmp_path / "big" / GRADS).stat().st_size + (tmp_path / "big" / WEIGHTS).stat().st_size
    assert size > 35e6
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp_path / "big")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert measured["steps"] == 12_000 and measured["rows"] == len(buffer.history())
    assert measured["traced"] <= 1.5 * size, measured
    assert measured["rss"] <= 1.5 * size, measured
    # the rows kept are the ones watch kept
    h = gradviz.open(tmp_path / "big").history
    expected = buffer.history()
    for key in ("steps", "grad_norm", "state", "param_norm", "update_ratio"):
        np.testing.assert_array_equal(getattr(h, key), getattr(expected, key))
