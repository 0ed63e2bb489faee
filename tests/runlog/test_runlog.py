"""Recorded runs: the on-disk format (gradviz/runlog/_format.py), gradviz.open, and crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import gradviz
from gradviz._open import Run
from gradviz.records import GradState, StepBuffer
from gradviz.runlog import RunWriter
from gradviz.runlog._format import GRADS, HEADER, WEIGHTS, grads_dtype, weights_dtype
from gradviz.runlog._reader import RunReader

NAMES = ["enc.weight", "enc.bias", "héad.wéight"]
P = len(NAMES)


def _rows(n: int, weights_every: int = 4):
    """n rows: norms i + column/10, a None gradient at row 1, NaN at row 5, zero at row 6; weights every 4."""
    for i in range(n):
        grad = np.arange(P, dtype=np.float32) / 10 + i
        state = np.full(P, GradState.finite, np.uint8)
        if i == 1:
            grad[0], state[0] = np.nan, GradState.none
        if i == 5:
            grad[1], state[1] = np.nan, GradState.nonfinite
        if i == 6:
            grad[2], state[2] = 0.0, GradState.zero
        weights = None
        if i % weights_every == 0:
            weights = (np.full(P, 10.0 + i, np.float32), np.full(P, 1e-3 * (i + 1), np.float32))
        yield i * 2, grad, state, weights


def _write(path, n: int, *, close: bool = True, **kwargs) -> RunWriter:
    w = RunWriter(path, NAMES, every=2, weights_every=4, model="Net", optimizer="SGD", **kwargs)
    for step, grad, state, weights in _rows(n):
        w.append(step, grad, state, *(weights or ()))
    if close:
        w.close()
    return w


def test_round_trip_keeps_every_field(tmp_path) -> None:
    _write(tmp_path / "run", 10)
    r = RunReader(tmp_path / "run")
    assert r.refresh() == 10 and r.ended and r.dropped == 0
    h = r.history()
    assert h.names == NAMES and h.every == 2 and h.weights_every == 4 and h.stride == 1
    np.testing.assert_array_equal(h.steps, np.arange(10) * 2)
    for i, (_, grad, state, weights) in enumerate(_rows(10)):
        np.testing.assert_array_equal(h.grad_norm[i], grad)
        np.testing.assert_array_equal(h.state[i], state)
        if weights is None:
            assert np.isnan(h.param_norm[i]).all() and np.isnan(h.update_ratio[i]).all()
        else:
            np.testing.assert_array_equal(h.param_norm[i], weights[0])
            np.testing.assert_array_equal(h.update_ratio[i], weights[1])
    assert h.first_nonfinite == (10, "enc.bias")
    assert h.state[1, 0] == GradState.none and h.state[6, 2] == GradState.zero


def test_files_are_as_documented(tmp_path) -> None:
    w = _write(tmp_path / "run", 3)
    header = json.loads((tmp_path / "run" / HEADER).read_text(encoding="utf-8"))
    assert header["format"] == "gradviz-run" and header["version"] == 1 and header["names"] == NAMES
    assert header["grads"]["record_bytes"] == 12 + 5 * P == grads_dtype(P).itemsize
    assert header["weights"]["record_bytes"] == 12 + 8 * P == weights_dtype(P).itemsize
    # 3 rows + the end record; weights at rows 0 (every 4th)
    assert (tmp_path / "run" / GRADS).stat().st_size == 4 * (12 + 5 * P)
    assert (tmp_path / "run" / WEIGHTS).stat().st_size == 1 * (12 + 8 * P)
    assert w.bytes_written == 4 * (12 + 5 * P) + (12 + 8 * P)


def test_an_existing_run_is_never_overwritten(tmp_path) -> None:
    _write(tmp_path / "run", 2)
    with pytest.raises(FileExistsError, match="already holds a recorded run"):
        RunWriter(tmp_path / "run", NAMES)


def test_reading_while_the_run_is_written(tmp_path) -> None:
    rows = list(_rows(8))
    w = RunWriter(tmp_path / "run", NAMES, every=2, weights_every=4)
    r = RunReader(tmp_path / "run")
    assert r.refresh() == 0 and not r.ended and len(r.history()) == 0
    for step, grad, state, weights in rows[:3]:
        w.append(step, grad, state, *(weights or ()))
    assert r.refresh() == 3 and not r.ended
    for step, grad, state, weights in rows[3:]:
        w.append(step, grad, state, *(weights or ()))
    assert r.refresh() == 5
    w.close()
    assert r.refresh() == 0 and r.ended
    assert len(r.history()) == 8 and r.dropped == 0


def test_a_cut_anywhere_in_the_last_record_reads_up_to_the_record_before(tmp_path) -> None:
    _write(tmp_path / "run", 5, close=False).flush()
    path = tmp_path / "run" / GRADS
    whole = path.read_bytes()
    size = 12 + 5 * P
    assert len(whole) == 5 * size
    for cut in range(4 * size, 5 * size):  # every byte offset inside the last record
        path.write_bytes(whole[:cut])
        r = RunReader(tmp_path / "run")
        assert r.refresh() == 4 and r.dropped == 0 and not r.ended
    # the rest of the record arrives: the next refresh takes it
    path.write_bytes(whole[: 4 * size + 7])
    r = RunReader(tmp_path / "run")
    assert r.refresh() == 4
    with open(path, "ab") as f:
        f.write(whole[4 * size + 7 :])
    assert r.refresh() == 1 and len(r.history()) == 5


def test_a_zero_filled_tail_and_a_corrupt_record_are_dropped(tmp_path) -> None:
    _write(tmp_path / "run", 5, close=False).flush()
    path = tmp_path / "run" / GRADS
    size = 12 + 5 * P
    data = bytearray(path.read_bytes())
    data[2 * size + 20] ^= 0xFF  # flip a byte inside record 2
    data += bytes(3 * size)  # what a power loss can leave: whole zero records after the data
    path.write_bytes(bytes(data))
    r = RunReader(tmp_path / "run")
    r.refresh()
    h = r.history()
    np.testing.assert_array_equal(h.steps, [0, 2, 6, 8])  # record 2 (step 4) dropped, zeros ignored
    assert r.dropped == 1  # record 2; the zero tail is never taken (it could be records still in flight)


def test_max_steps_keeps_the_rows_watch_would_keep(tmp_path) -> None:
    _write(tmp_path / "run", 37)
    buffer = StepBuffer(NAMES, max_steps=8, every=2, weights_every=4)
    for step, grad, state, _ in _rows(37):
        buffer.append(step, grad, state)
    r = RunReader(tmp_path / "run", max_steps=8)
    r.refresh()
    h = r.history()
    np.testing.assert_array_equal(h.steps, buffer.history().steps)
    assert h.stride == buffer.stride and r.steps_read == 37
    every = RunReader(tmp_path / "run")
    every.refresh()
    assert len(every.history()) == 37


def test_open_shows_the_run_and_follows_it(tmp_path) -> None:
    w = RunWriter(tmp_path / "run", NAMES, every=2, weights_every=4, model="Net", optimizer="SGD")
    rows = list(_rows(6))
    for step, grad, state, weights in rows[:2]:
        w.append(step, grad, state, *(weights or ()))
    run = gradviz.open(tmp_path / "run")
    assert isinstance(run, Run) and run.live and run.names == NAMES
    assert "live" in repr(run) and "2 steps" in repr(run) and "Net with SGD" in repr(run)
    widget = run.widget()
    assert widget.timeline["rows"] == 2 and widget.timeline["live"] is True
    run.close()  # no background thread in this test: refresh() by hand
    for step, grad, state, weights in rows[2:]:
        w.append(step, grad, state, *(weights or ()))
    assert run.refresh() == 4
    assert widget.timeline["rows"] == 6 and len(widget.steps) == 6 * 4
    w.close()
    assert len(run.history) == 6 and not run.live
    assert widget.timeline["live"] is False
    data = run._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    text = data["text/plain"]
    assert "closed" in text and "went NaN/Inf" in text and "step 10" in text, text


def test_open_follows_a_live_run_in_the_background(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("gradviz._open._POLL_MIN", 0.05)
    w = RunWriter(tmp_path / "run", NAMES)
    w.append(0, np.ones(P, np.float32), np.full(P, 2, np.uint8))
    run = gradviz.open(tmp_path / "run")
    widget = run.widget()
    try:
        w.append(1, np.ones(P, np.float32), np.full(P, 2, np.uint8))
        w.close()
        deadline = time.monotonic() + 10
        while widget.timeline["live"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert widget.timeline["rows"] == 2 and widget.timeline["live"] is False
    finally:
        run.close()
    assert run._poller is None


def test_open_says_what_a_directory_is_not(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="not a recorded gradviz run"):
        gradviz.open(tmp_path)
    _write(tmp_path / "rank1", 2)
    with pytest.raises(FileNotFoundError, match="rank1"):
        gradviz.open(tmp_path)
    assert gradviz.open(tmp_path, rank=1).names == NAMES
    with pytest.raises(ValueError, match="max_steps"):
        gradviz.open(tmp_path, max_steps=1)


_SCRIPT = textwrap.dedent(
    """
    import sys, torch
    import gradviz
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    mon = gradviz.watch(model, optimizer=opt, log_dir=sys.argv[1], flush_secs=0, weights_every=3)
    step = 0
    while True:  # until killed
        opt.zero_grad()
        model(torch.randn(4, 8)).pow(2).mean().backward()
        opt.step()  # the row of this step is written and fsync'd (flush_secs=0) before step() returns
        print(step, flush=True)
        step += 1
    """
)


@pytest.mark.slow
def test_a_run_killed_mid_way_opens_with_every_flushed_step(tmp_path) -> None:
    log_dir = tmp_path / "exp1"
    proc = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, str(log_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    announced = -1
    try:
        deadline = time.monotonic() + 45
        while announced < 40 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            announced = int(line)
        assert announced >= 40, proc.stderr.read() if proc.poll() is not None else "too slow"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    run = gradviz.open(log_dir, max_steps=None)
    h = run.history
    assert run.live and run.dropped == 0  # killed: no end record, nothing torn before the end
    assert h.steps[: announced + 1].tolist() == list(range(announced + 1))
    assert (h.state[: announced + 1] == GradState.finite).all()
    assert np.isfinite(h.param_norm[0 : announced + 1 : 3]).all()


def _train(mon_kwargs: dict, steps: int = 5):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mon = gradviz.watch(model, optimizer=opt, **mon_kwargs)
    for _ in range(steps):
        opt.zero_grad()
        model(torch.randn(3, 4)).sum().backward()
        opt.step()
    return mon


def test_watch_writes_what_it_records(tmp_path) -> None:
    with _train({"log_dir": tmp_path / "exp1", "weights_every": 2}) as mon:
        assert gradviz.open(tmp_path / "exp1").live
        assert "writing" in repr(mon)
    run = gradviz.open(tmp_path / "exp1")
    assert not run.live and run.header["model"] == "Sequential" and run.header["optimizer"] == "SGD"
    mine, theirs = mon.history, run.history
    assert theirs.names == mine.names == ["0.weight", "0.bias", "1.weight", "1.bias"]
    for key in ("steps", "grad_norm", "param_norm", "update_ratio", "state"):
        np.testing.assert_array_equal(getattr(theirs, key), getattr(mine, key))
    assert theirs.weights_every == 2 and np.isfinite(theirs.param_norm[::2]).all()


def test_a_full_disk_stops_the_log_not_the_training(tmp_path, monkeypatch) -> None:
    import gradviz.runlog._writer

    real = os.write
    calls = []

    def failing(fd, data):
        calls.append(fd)
        if len(calls) > 3:
            raise OSError(28, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(gradviz.runlog._writer.os, "write", failing)
    with pytest.warns(RuntimeWarning, match="stopped writing .* No space left"):
        mon = _train({"log_dir": tmp_path / "exp1", "weights_every": None})
    mon.close()
    monkeypatch.setattr(gradviz.runlog._writer.os, "write", real)
    assert len(mon.history) == 5  # training and recording went on
    run = gradviz.open(tmp_path / "exp1")
    assert run.history.steps.tolist() == [0, 1, 2]


@pytest.mark.slow
def test_a_script_that_never_closes_its_monitor_still_ends_its_run(tmp_path) -> None:
    script = _SCRIPT.replace("while True:  # until killed", "for _ in range(3):")
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "exp1")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    run = gradviz.open(tmp_path / "exp1")
    assert not run.live and run.history.steps.tolist() == [0, 1, 2]


def test_open_is_public_but_never_shadows_the_builtin() -> None:
    namespace: dict = {}
    exec("from gradviz import *", namespace)
    assert "open" not in namespace and "ddp_check" in namespace and "Run" in namespace
    assert gradviz.open is gradviz._open.open


@pytest.mark.parametrize(
    ("step", "change", "match"),
    [
        (-1, {}, "a step is in"),
        (1 << 48, {}, "a step is in"),
        (0, {"grad": -1.0}, "grad_norm is a norm"),
        (0, {"param": -0.5}, "param_norm is a norm"),
        (0, {"ratio": -1e-9}, "update_ratio is a norm"),
        (0, {"state": 4}, "a state is a GradState"),
    ],
)
def test_a_row_no_reader_would_take_back_is_refused(tmp_path, step, change, match) -> None:
    """What the reader reads as damage (NOTE [a record gradviz wrote]) is refused when written, not lost."""
    w = RunWriter(tmp_path / "run", NAMES)
    _, grad, state, (param, ratio) = next(r for r in _rows(4) if r[3])
    grad, state, param, ratio = grad.copy(), state.copy(), param.copy(), ratio.copy()
    for name, array in (("grad", grad), ("param", param), ("ratio", ratio), ("state", state)):
        if name in change:
            array[-1] = change[name]
    with pytest.raises(ValueError, match=match):
        w.append(step, grad, state, param, ratio)
    w.append(0, *next(_rows(1))[1:3])  # the log goes on: nothing of the refused row was written
    w.close()
    r = RunReader(tmp_path / "run")
    assert r.refresh() == 1 and r.dropped == 0 and r.ended


def test_zero_and_nan_norms_are_written(tmp_path) -> None:
    w = RunWriter(tmp_path / "run", NAMES)
    grad = np.zeros(P, np.float32)
    grad[0] = np.nan
    w.append(0, grad, np.zeros(P, np.uint8), np.full(P, -0.0, np.float32), None)
    w.close()
    r = RunReader(tmp_path / "run")
    assert r.refresh() == 1 and r.dropped == 0
