"""A write error never stops training: full disk (RLIMIT_FSIZE), read-only directories, failing fsync.

Each real-world case runs in a subprocess that trains two copies of one model on the same batches, one
watched with ``log_dir``, and compares their gradients bitwise at every step: the truth is plain torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

import gradviz
from gradviz.runlog import RunWriter
from gradviz.runlog._format import GRADS, GRAPH, HEADER, WEIGHTS

STEPS = 60

_TRAIN = textwrap.dedent(
    """
    import copy, json, os, resource, sys, warnings
    import torch
    import gradviz

    log_dir, fsize, readonly_after_start = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    if fsize:  # what a full disk or a quota does to a write: EFBIG past this many bytes per file
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    plain = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    plain_opt = torch.optim.SGD(plain.parameters(), lr=0.05)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mon = gradviz.watch(model, optimizer=opt, log_dir=log_dir, weights_every=5, flush_secs=0)
        if readonly_after_start:
            os.chmod(log_dir, 0o555)  # the run started; now its directory takes no new file
        same, steps = True, 0
        for step in range(int(sys.argv[4])):
            x = torch.randn(8, 6)
            for m, o in ((model, opt), (plain, plain_opt)):
                o.zero_grad()
                m(x).pow(2).mean().backward()
            same &= all(torch.equal(a.grad, b.grad) for a, b in zip(model.parameters(), plain.parameters()))
            opt.step()
            plain_opt.step()
            steps += 1
        mon.close()
    same &= all(torch.equal(a, b) for a, b in zip(model.parameters(), plain.parameters()))
    print(json.dumps({
        "steps": steps, "same": same, "recorded": len(mon.history), "graph": mon.graph is not None,
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
    }))
    """
)


def _read_only_for_us() -> dict:
    """Popen arguments under which the child obeys directory permissions. Root ignores them (through the
    CAP_DAC_OVERRIDE capability), so a root child drops that capability before it starts."""
    if os.geteuid() != 0:
        return {}
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def drop() -> None:
        for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, from the bounding set (PR_CAPBSET_DROP)
            if libc.prctl(24, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return {"preexec_fn": drop}


def _train(log_dir, *, fsize: int = 0, readonly_after_start: bool = False, **popen) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _TRAIN,
            str(log_dir),
            str(fsize),
            "1" if readonly_after_start else "0",
            str(STEPS),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        **popen,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _no_temporary_files(path) -> None:
    left = [p.name for p in path.rglob("*") if p.name.endswith(".tmp")]
    assert not left, left


@pytest.mark.slow
def test_a_full_disk_at_any_write_never_stops_training(tmp_path) -> None:
    """The file-size limit falls inside graph.json (written in the first backward) and, later, inside
    grads.bin: each warns once, the training completes with the gradients plain torch gives."""
    record = 12 + 5 * 4  # 4 parameters
    limit = 40 * record + 7  # the header (~600 bytes) fits, graph.json (~10 KB) does not, 40 records do
    result = _train(tmp_path / "run", fsize=limit)
    assert result["steps"] == STEPS and result["same"] and result["recorded"] == STEPS
    assert result["graph"]  # the monitor still shows the graph it could not write
    graph_warnings = [w for w in result["warnings"] if "could not write" in w and GRAPH in w]
    record_warnings = [w for w in result["warnings"] if "stopped writing" in w]
    assert len(graph_warnings) == 1 and len(record_warnings) == 1, result["warnings"]
    assert len(result["warnings"]) == 2, result["warnings"]
    assert "File too large" in record_warnings[0] and "training goes on" in record_warnings[0]
    _no_temporary_files(tmp_path)
    assert not (tmp_path / "run" / GRAPH).exists()
    run = gradviz.open(tmp_path / "run", max_steps=None)  # the steps written before the limit read back
    assert run.history.steps.tolist() == list(range(40)) and run.skipped_bytes == 0
    assert run.unread_bytes == 7  # the part of record 40 that fit


@pytest.mark.slow
def test_a_disk_too_full_for_the_header_records_in_memory(tmp_path) -> None:
    result = _train(tmp_path / "run", fsize=100)
    assert result["steps"] == STEPS and result["same"] and result["recorded"] == STEPS
    assert len(result["warnings"]) == 1 and "cannot write" in result["warnings"][0], result["warnings"]
    assert "records in memory only" in result["warnings"][0]
    # nothing half-made is left to block the next watch() of this directory
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == []


@pytest.mark.slow
def test_a_read_only_directory_never_stops_training(tmp_path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o555)  # no one may create anything in it
    result = _train(shared / "run", **_read_only_for_us())
    assert result["steps"] == STEPS and result["same"] and result["recorded"] == STEPS
    assert len(result["warnings"]) == 1 and "Permission denied" in result["warnings"][0], result["warnings"]
    assert not (shared / "run").exists()


@pytest.mark.slow
def test_a_directory_made_read_only_after_the_start_keeps_its_records(tmp_path) -> None:
    """graph.json is written in the first backward, after the run started: the directory no longer
    takes it (warned once), the record files, already open, take every step."""
    log_dir = tmp_path / "run"
    result = _train(log_dir, readonly_after_start=True, **_read_only_for_us())
    assert result["steps"] == STEPS and result["same"] and result["recorded"] == STEPS
    # (and headroom.json, first written at the first recorded step: left out too, said once)
    graph_warned, headroom_warned = result["warnings"]
    assert GRAPH in graph_warned and "headroom.json" in headroom_warned, result["warnings"]
    assert "Permission denied" in graph_warned and "Permission denied" in headroom_warned
    _no_temporary_files(tmp_path)
    assert sorted(p.name for p in log_dir.iterdir()) == sorted([HEADER, GRADS, WEIGHTS])
    run = gradviz.open(log_dir)
    assert not run.live and run.history.steps.tolist() == list(range(STEPS))
    assert run._reader.graph is None


def test_a_failing_fsync_warns_once_and_training_goes_on(tmp_path, monkeypatch) -> None:
    import gradviz.runlog._writer as runlog

    def failing(fd: int) -> None:
        raise OSError(122, "Disk quota exceeded")

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mon = gradviz.watch(model, optimizer=opt, log_dir=tmp_path / "run", flush_secs=0)
        monkeypatch.setattr(runlog.os, "fsync", failing)  # from the first backward on
        for _ in range(5):
            opt.zero_grad()
            model(torch.randn(4, 3)).sum().backward()
            opt.step()
        mon.close()
    assert all("Disk quota exceeded" in str(w.message) for w in caught)
    assert len(caught) == 2, [str(w.message) for w in caught]  # graph.json, then the records
    assert GRAPH in str(caught[0].message) and "stopped writing" in str(caught[1].message)
    assert len(mon.history) == 5 and mon._writer.stopped is not None
    _no_temporary_files(tmp_path)


def test_a_writer_never_raises_after_a_write_error(tmp_path, monkeypatch) -> None:
    """append, flush, write_graph and close after an error: one warning in all, no exception."""
    import gradviz.runlog._writer as runlog

    writer = runlog.RunWriter(tmp_path / "run", ["a"], weights_every=1)
    monkeypatch.setattr(runlog.os, "write", lambda fd, data: (_ for _ in ()).throw(OSError(28, "No space")))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(3):
            writer.append(step, np.ones(1, np.float32), np.full(1, 2, np.uint8), np.ones(1, np.float32))
        writer.flush()
        writer.close()
    assert [str(w.message).count("No space") for w in caught] == [1]
    assert writer.closed and "at step 0" in writer.stopped


@pytest.mark.parametrize(
    ("argument", "field"),
    [
        ({"weights_every": 0}, "weights_every"),
        ({"every": 0}, "every"),
        ({"rank": -1}, "rank"),
        ({"world_size": 0}, "world_size"),
        ({"model": 3}, "model"),
    ],
)
def test_a_writer_never_writes_a_header_its_reader_refuses(tmp_path, argument, field) -> None:
    with pytest.raises(ValueError, match=f"field '{field}'"):
        RunWriter(tmp_path / "run", ["w"], **argument)
    assert not (tmp_path / "run").exists()  # nothing written
    RunWriter(tmp_path / "run", ["w"], weights_every=None).close()  # the defaults are readable
    assert gradviz.open(tmp_path / "run").history.steps.tolist() == []
