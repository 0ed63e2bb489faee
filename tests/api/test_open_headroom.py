"""Precision headroom in a run folder (``headroom.json``, gradviz/runlog/_format.py): ``gradviz.open`` shows
what the live monitor showed, the records come back as ``run.headroom``, and a file that cannot be read is
left out and said, never raised. The runs are tests/api/test_watch_headroom.py's (truth from plain torch
there)."""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import sys

import numpy as np
import torch
from torch import nn

import gradviz

API = pathlib.Path(__file__).resolve().parent
if str(API) not in sys.path:
    sys.path.insert(0, str(API))
from test_watch_headroom import _model, _run  # noqa: E402


def _same(a, b) -> bool:
    """Two Headroom records are equal, NaN equal to NaN."""
    for field in dataclasses.fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if not (
            x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        ):
            return False
    return True


def _watched(log_dir, steps: int = 45, growth: float = 1.3, model: nn.Module | None = None):
    model = model if model is not None else _model(torch.float16)
    with gradviz.watch(model, log_dir=log_dir) as mon:
        _run(model, steps, growth, torch.float16, lambda s, m: mon.step())
    return mon


def test_an_opened_run_shows_the_live_views_headroom(tmp_path):
    mon = _watched(tmp_path / "run")  # it overflows at the end: flagged, then non-finite
    live = mon._state()
    run = gradviz.open(tmp_path / "run")
    opened = run._state()
    assert live["timeline"]["headroom"]["flagged"]  # something to show
    assert opened["timeline"]["headroom"] == live["timeline"]["headroom"]
    assert opened["headroom"] == live["headroom"] and len(live["headroom"]) > 0
    room = run.headroom
    assert room.keys() == mon.headroom.keys()
    assert all(_same(room[n], mon.headroom[n]) for n in room)
    json.loads((tmp_path / "run" / "headroom.json").read_text())  # strict JSON: NaN as strings


def test_the_file_keeps_the_series_of_at_most_16_parameters_flagged_first(tmp_path):
    torch.manual_seed(0)
    layers = [nn.Linear(8, 4), *(nn.Linear(4, 4) for _ in range(9)), nn.Linear(4, 1)]
    mon = _watched(tmp_path / "run", steps=20, growth=1.5, model=nn.Sequential(*layers).half())  # 22
    saved = json.loads((tmp_path / "run" / "headroom.json").read_text())
    names = saved["series"]["names"]
    room = mon.headroom
    assert len(room) == 22 and len(names) == 16
    flagged = [n for n, h in room.items() if h.flagged]
    head = names[: min(16, len(flagged))]
    assert set(head) <= set(flagged)  # the flagged first, closest to overflow first
    left = [room[n].bits for n in flagged if n not in names]
    assert not left or max(room[n].bits for n in head) <= min(left)
    assert saved["series"]["steps"] == list(range(20))
    run = gradviz.open(tmp_path / "run")
    entry = run._state()["timeline"]["headroom"]
    assert sum(entry["charted"]) == 16  # the others: their record, no series
    assert all(p is not None for p in entry["params"])


def test_a_malformed_headroom_file_is_left_out_and_said(tmp_path):
    _watched(tmp_path / "run", steps=10)
    path = tmp_path / "run" / "headroom.json"
    good = json.loads(path.read_text())
    bad_files = {
        "not json": b"{",
        "deep": b"[" * 100 + b"]" * 100,
        "a record without bits": json.dumps(
            {**good, "records": [{k: v for k, v in good["records"][0].items() if k != "bits"}]}
        ).encode(),
        "bits of another size": json.dumps({**good, "series": {**good["series"], "bits": ""}}).encode(),
        "NaN": path.read_bytes().replace(b'"step":9', b'"step":NaN', 1),
    }
    for why, data in bad_files.items():
        path.write_bytes(data)
        run = gradviz.open(tmp_path / "run")
        assert run.headroom == {}, why
        entry = run._state()["timeline"]["headroom"]
        assert entry["note"].startswith("Precision headroom cannot be shown: headroom.json left out: "), why
        assert entry["flagged"] == [] and not any(entry["charted"]), why
        assert "headroom.json left out" in repr(run), why
    path.write_bytes(json.dumps(good).encode())  # put back: read again, shown
    run = gradviz.open(tmp_path / "run")
    assert run.headroom and run._state()["timeline"]["headroom"]["note"] == ""


def test_a_live_run_rewrites_the_file_and_the_reader_follows_it(tmp_path):
    model = _model(torch.float16)
    mon = gradviz.watch(model, log_dir=tmp_path / "run")
    _run(model, 3, 1.3, torch.float16, lambda s, m: mon.step())
    path = tmp_path / "run" / "headroom.json"
    assert json.loads(path.read_text())["step"] == 0  # written at the first recorded step, then throttled
    run = gradviz.open(tmp_path / "run")
    assert {h.step for h in run.headroom.values()} == {0}
    mon.close()  # and at close
    assert json.loads(path.read_text())["step"] == 2
    assert {h.step for h in run.headroom.values()} == {2}
    np.testing.assert_array_equal(json.loads(path.read_text())["series"]["steps"], [0, 1, 2])
    assert not list((tmp_path / "run").glob(".*.tmp"))
