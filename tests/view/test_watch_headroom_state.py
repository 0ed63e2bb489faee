"""Precision headroom in the watch state (gradviz/view/_watch_headroom.py, js/STATE.md "headroom"): the
timeline's entry holds the monitor's ``Headroom`` records (checked against plain torch by
tests/api/test_watch_headroom.py) field for field, the banner's words name the flagged parameter closest to
overflow, and the ``headroom`` trait holds each recorded step's headroom, which is log2(65504 / the largest
magnitude plain torch leaves in ``.grad``) for float16 gradients."""

from __future__ import annotations

import copy
import json
import math
import pathlib
import sys

import numpy as np
import torch

import gradviz
from gradviz.records import Headroom
from gradviz.view._watch_headroom import MAX_SAVED, saved_columns, watch_headroom
from gradviz.view._watch_state import build_watch_state

API = pathlib.Path(__file__).resolve().parents[1] / "api"
if str(API) not in sys.path:
    sys.path.insert(0, str(API))
from test_watch_headroom import _model, _run  # noqa: E402

GROWTH = 1.3


def _wire(x: object) -> object:
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def _climbing(steps: int):
    """The float16 run of tests/api/test_watch_headroom.py, watched; plain torch's peak per step."""
    model = _model(torch.float16)
    plain = copy.deepcopy(model)
    peaks: list[list[float]] = []
    _run(
        plain,
        steps,
        GROWTH,
        torch.float16,
        lambda s, m: peaks.append([float(p.grad.abs().max()) for p in m.parameters()]),
    )
    with gradviz.watch(model) as mon:
        _run(model, steps, GROWTH, torch.float16, lambda s, m: mon.step())
    return mon, np.array(peaks)


def test_the_timeline_entry_is_the_monitors_records_and_the_series_is_plain_torchs_peaks():
    mon, peaks = _climbing(30)  # the first Inf of this run is later (plain torch: below)
    assert np.isfinite(peaks).all()
    state = mon._state()
    entry = state["timeline"]["headroom"]
    json.dumps(entry, allow_nan=False)  # JSON only
    room = mon.headroom
    names = mon.history.names
    for i, name in enumerate(names):
        rec = room[name]
        sent = entry["params"][i]
        assert sent == {**{k: _wire(v) for k, v in vars(rec).items()}, "text": rec.text()}
    assert entry["charted"] == [True] * len(names)  # float16: measured exactly
    flagged = sorted(
        (names.index(n) for n, h in room.items() if h.flagged), key=lambda i: room[names[i]].bits
    )
    assert flagged and entry["flagged"] == flagged
    first = room[names[flagged[0]]]
    assert entry["title"] == "Heading for float16 overflow"
    assert entry["text"].startswith(
        f"{len(flagged)} parameters head for float16 overflow: {first.name}'s gradient peaks at"
    )
    assert f"({first.bits:.1f} bits below 65504)" in entry["text"]
    assert f"losing {-first.trend:.2f} bits per step" in entry["text"]
    assert f"(flagged at step {first.flagged_at})" in entry["text"]
    assert entry["note"] == "" and entry["step"] == 29
    bits = np.frombuffer(state["headroom"], "<f4").reshape(len(mon.history), len(names))
    truth = np.log2(65504.0 / peaks)
    np.testing.assert_allclose(bits, truth, rtol=0, atol=2e-3)


def test_a_steady_float32_run_sends_no_line_and_no_series():
    model = _model(torch.float32)
    with gradviz.watch(model) as mon:
        _run(model, 20, 1.0, torch.float32, lambda s, m: mon.step())
    state = mon._state()
    entry = state["timeline"]["headroom"]
    assert entry["flagged"] == [] and entry["text"] == "" and entry["title"] == ""
    assert entry["charted"] == [False] * 4 and all(p["exact"] is False for p in entry["params"])
    assert state["headroom"] == b""  # nothing charted: no copy of the history


def test_one_flagged_parameter_is_named_alone_and_the_series_follows_the_historys_rows():
    hot = Headroom("fc.weight", "float16", 65504.0, 7, 9100.0, 2.8, True, -0.38, 7.4, 5, 0.001, 10.0)
    cold = Headroom("fc.bias", "float16", 65504.0, 7, 10.0, 12.6, True, 0.0, None, None, 0.0, 11.0)
    view = watch_headroom(
        ["fc.weight", "fc.bias"],
        {"fc.weight": hot, "fc.bias": cold},
        [5, 6, 7],
        [[3, 12], [2.9, 12], [2.8, 12.6]],
    )
    assert view.info["text"] == (
        "fc.weight heads for float16 overflow: its gradient peaks at 9.1e3 (2.8 bits below 65504), "
        "losing 0.38 bits per step — overflow in about 7 steps (flagged at step 5)."
    )
    assert view.info["flagged"] == [0] and view.info["charted"] == [True, True]
    history = gradviz.History(
        [4, 6, 7],
        ["fc.weight", "fc.bias"],
        np.ones((3, 2)),
        np.ones((3, 2)),
        np.ones((3, 2)),
        np.full((3, 2), 2, np.uint8),
    )
    bits = np.frombuffer(build_watch_state(history, headroom=view)["headroom"], "<f4").reshape(3, 2)
    assert np.isnan(bits[0]).all()  # step 4: no headroom kept for it
    np.testing.assert_allclose(bits[1:], [[2.9, 12], [2.8, 12.6]], rtol=1e-6)


def test_an_overflowed_gradient_is_said_so_and_a_left_out_file_is_a_note():
    gone = Headroom("w", "float16", 65504.0, 9, math.inf, -math.inf, True, None, None, 4)
    view = watch_headroom(["w"], {"w": gone}, [9], [[-math.inf]])
    assert (
        view.info["text"]
        == "w heads for float16 overflow: its gradient is no longer finite at step 9 (flagged at step 4)."
    )
    assert view.info["params"][0]["peak"] == "inf" and view.info["params"][0]["bits"] == "-inf"
    lost = watch_headroom(["w"], {"w": gone}, unreadable="headroom.json left out: it nests too deep")
    assert (
        lost.info["note"] == "Precision headroom cannot be shown: headroom.json left out: it nests too deep."
    )
    assert lost.info["params"] == [None] and lost.info["flagged"] == [] and lost.info["charted"] == [False]


def test_a_run_folder_keeps_the_flagged_then_the_least_headroom_at_most_16():
    records = {f"p{i}": Headroom(f"p{i}", "float16", 65504.0, 3, 1.0, 20.0 - i, True) for i in range(20)}
    records["p0"] = Headroom("p0", "float16", 65504.0, 3, 1.0, 20.0, True, flagged_at=2)
    kept = saved_columns(records, list(records))
    assert len(kept) == MAX_SAVED and kept[0] == "p0"
    assert kept[1:] == [f"p{i}" for i in range(19, 4, -1)]  # the least headroom next
    assert "p1" not in kept  # flagged or low first: p1 has the 2nd most headroom of all
