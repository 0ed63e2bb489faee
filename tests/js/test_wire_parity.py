"""Python and the front end say the same of the same state.

Watch health is written twice: in Python (``gradviz/view/_watch_summary.py``, for the text views) and in
JS (``js/src/watch/health.js`` over ``js/src/watch/data.js``, for the widget). Here real watched runs (the
training demos, a run with a frozen layer) and hand-made histories (every GradState, frozen columns,
unchanged weights, thresholds at float32 edges) go through ``build_watch_state``; their traits cross to
Node as the widget gets them (the bytes traits as DataViews, over base64 here) and
``js/test/parity/health-parity.mjs`` judges them with the front end's own code. Each cell's health, each
step's counts and texts, and the run's text must be Python's.

Also: the NaN/Inf wire encoding of the graph JSON (``_num``) read back by ``readNumber`` (js/src/types.js).

Skipped without Node, except under CI=true, where that is a failure (as tests/js/test_vitest.py).
"""

from __future__ import annotations

import base64
import functools
import json
import math
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
import torch
from torch import nn

import gradviz
from gradviz.view import _watch_summary as summary
from gradviz.view._state import _num, build_state
from gradviz.view._watch_state import WATCH_TRAITS, build_watch_state

JS = pathlib.Path(__file__).resolve().parents[2] / "js"
SCRIPT = JS / "test" / "parity" / "health-parity.mjs"
BYTES_TRAITS = {
    "steps",
    "grad_norm",
    "param_norm",
    "update_ratio",
    "state",
    "edge_norms",
    "hists",
    "replay_edge_norms",
    "replay_hists",
    "headroom",
}
KINDS = [h.value for h in summary.Health]

#: Thresholds whose words Python (``_number``) and JS (String(x)) must write alike: the exponent and
#: fixed-notation ranges of String(x) (1e-6 <= x < 1e21 in full), and every digit of a long one.
THRESHOLDS = [summary.VANISH, 1e-3, 1e-4, 0.5, 2.5e-8, 1e-10, 10.0, 1e-5, 1e-6, 0.123456789, 1234567.0, 1e21]


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is not installed, and CI must check that Python and the front end agree")
        pytest.skip("node is not installed: the parity checks run the front end's code in Node 20+")
    return node


# -- the states --------------------------------------------------------------------------------------


@functools.cache
def _demo(name: str):
    """A finished demo (each runs once per session)."""
    return getattr(gradviz.demos, name)()


def _frozen_run():
    """A real run: the first layer frozen (requires_grad False), the last left out of the optimizer."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
        model[0].weight.requires_grad_(False)
        opt = torch.optim.SGD(
            [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("4.")], lr=0.05
        )
        x, y = torch.randn(32, 4), torch.randn(32, 1)
        with gradviz.watch(model, optimizer=opt, weights_every=2) as mon:
            for _ in range(12):
                loss = torch.nn.functional.mse_loss(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
    return mon.history, mon.graph


def _f32(x: float) -> float:
    return float(np.float32(x))


def _synthetic() -> tuple[gradviz.History, tuple[dict, bytes, bytes]]:
    """Every GradState, a frozen column (also once with a gradient), a column without a gradient, one the
    optimizer never changes, one never measured, +Inf and 0 update ratios, norms at the float32 edges of
    the threshold (1e-4, whose float32 is below it), a finite state with a NaN or zero norm, and step
    numbers near the int32 limit."""
    names = [
        "enc.weight", "enc.bias", "frozen.weight", "dead.weight", "nan.weight",
        "tiny.weight", "stuck.weight", "none.weight", "head.weight", "edge.weight",
    ]  # fmt: skip
    rows, p = 8, len(names)
    col = {n: i for i, n in enumerate(names)}
    state = np.full((rows, p), int(gradviz.GradState.finite), np.uint8)
    grad = np.array([[0.5 * (c + 1) * (r + 1) for c in range(p)] for r in range(rows)], np.float64)
    weight = np.full((rows, p), np.nan)
    ratio = np.full((rows, p), np.nan)
    weight[::2] = 1.0
    ratio[::2] = 1e-3
    limit = _f32(1e-4)  # below 1e-4
    below, above = (
        float(np.nextafter(np.float32(limit), np.float32(0))),
        float(np.nextafter(np.float32(limit), np.float32(1))),
    )

    state[:7, col["frozen.weight"]] = gradviz.GradState.none
    grad[:7, col["frozen.weight"]] = np.nan  # row 7: a gradient after all (unfrozen later)
    state[2:, col["none.weight"]] = gradviz.GradState.none
    grad[2:, col["none.weight"]] = np.nan
    state[3:, col["dead.weight"]] = gradviz.GradState.zero
    grad[3:, col["dead.weight"]] = 0.0
    state[5:7, col["nan.weight"]] = gradviz.GradState.nonfinite
    grad[5:7, col["nan.weight"]] = [np.nan, np.inf]
    grad[1:4, col["tiny.weight"]] = 1e-9
    grad[4:7, col["tiny.weight"]] = [limit, below, above]
    ratio[::2, col["stuck.weight"]] = 0.0  # measured, never moved: unchanged
    ratio[:, col["enc.bias"]] = np.nan  # never measured: unknown, so it learns
    ratio[2, col["edge.weight"]] = np.inf  # a zero weight that moved
    grad[:4, col["edge.weight"]] = [limit, below, above, np.nan]  # row 3: finite state, NaN norm
    grad[7, col["enc.weight"]] = 0.0  # finite state, zero norm: below any threshold

    history = gradviz.History(
        [0, 4, 8, 12, 16, 20, 24, 2_000_000_000],
        names,
        grad,
        weight,
        ratio,
        state,
        first_nonfinite=(20, "nan.weight"),
        every=4,
        weights_every=2,
        stride=1,
    )
    graph = {"verdicts": [{"name": "frozen.weight", "cause": "frozen", "severity": "frozen", "node": None}]}
    return history, (graph, b"", b"")


def _cases() -> dict[str, tuple[gradviz.History, dict, bool]]:
    """name -> (history, watch state, compare texts); texts only where the threshold's words agree."""
    cases: dict[str, tuple[gradviz.History, dict, bool]] = {}
    for name in ("dead_relus", "nan_from_log", "vanishing_gradients", "untrained_body"):
        demo = _demo(name)
        history, graph = demo.history, demo.monitor.graph
        cases[name] = (history, build_watch_state(history, graph), True)
        if name == "vanishing_gradients":
            # a threshold 1 ulp (float64) above a recorded norm: as float32 it is that norm, not vanishing
            finite = np.sort(history.grad_norm[history.state == gradviz.GradState.finite])
            g = float(finite[len(finite) // 2])  # a norm the history holds
            edge = float(np.nextafter(g, math.inf))
            assert np.float32(edge) == np.float32(g)
            cases["vanishing_gradients_edge"] = (
                history,
                build_watch_state(history, graph, vanish=edge),
                False,
            )
    history, graph = _frozen_run()
    cases["frozen_run"] = (history, build_watch_state(history, graph), True)
    history, graph = _synthetic()
    cases["synthetic"] = (history, build_watch_state(history, graph, vanish=1e-4), True)
    cases["synthetic_default_vanish"] = (history, build_watch_state(history, graph), True)
    empty = gradviz.History.empty(["a.weight", "a.bias"])
    cases["no_rows"] = (empty, build_watch_state(empty), True)
    no_params = gradviz.History(
        [0, 1], [], np.zeros((2, 0)), np.zeros((2, 0)), np.zeros((2, 0)), np.zeros((2, 0), np.uint8)
    )
    cases["no_params"] = (no_params, build_watch_state(no_params), True)
    return cases


def _wire(state: dict) -> dict:
    """The traits as JSON: bytes as base64 (the script turns them into DataViews, as the widget gets them)."""
    assert set(state) == set(WATCH_TRAITS)
    return {k: base64.b64encode(v).decode() if k in BYTES_TRAITS else v for k, v in state.items()}


def _graphs() -> dict[str, dict]:
    """Graph JSON of traces whose gradients hold NaN and Inf."""
    out = {}
    for name in ("sqrt_distance_nan", "nan_from_log"):
        trace = _demo(name).trace
        out[name] = build_state(trace.capture, trace.verdicts)[0]
    return out


NUMBERS = [math.nan, math.inf, -math.inf, None, 1.5, 0.0, -2.5e-12]


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    node = _node()
    cases = _cases()
    graphs = _graphs()
    python = {name: _python(history, state) for name, (history, state, _) in cases.items()}
    payload = {  # self-contained: Python's answers sit next to each state (the script reads the states)
        "cases": {name: _wire(state) for name, (_, state, _) in cases.items()},
        "python": python,
        "numbers": [_num(x) for x in NUMBERS],
        "graphs": graphs,
        "thresholds": THRESHOLDS,
    }
    path = tmp_path_factory.mktemp("parity") / "states.json"
    path.write_text(json.dumps(payload, allow_nan=False), encoding="utf-8")  # JSON has no NaN: _num's job
    result = subprocess.run(
        [node, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{SCRIPT.name} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return {"cases": cases, "graphs": graphs, "python": python, "js": json.loads(result.stdout)}


def _python(history: gradviz.History, state: dict) -> dict:
    """What Python says, from the same inputs the widget gets (the timeline's frozen, moves, vanish)."""
    t = state["timeline"]
    frozen, moved, vanish = t["frozen"], t["moves"], t["vanish"]
    cells = summary.health(history, frozen, moved, vanish)
    counts = [summary.step_counts(history, row, frozen, moved, vanish) for row in range(len(history))]
    worst = cells.max(axis=0) if len(history) else np.zeros(len(history.names), int)
    return {
        "health": [[KINDS[i] for i in row] for row in cells],
        "counts": [{h.value: n for h, n in c.items()} for c in counts],
        "counts_text": [summary.counts_text(c, vanish) for c in counts],
        "worst": [KINDS[i] for i in worst],
        "run_text": summary.run_text(history, frozen, moved, vanish),
    }


def _cell_report(name: str, history: gradviz.History, state: dict, py: list, js: list) -> str:
    t = state["timeline"]
    lines = []
    for row, (prow, jrow) in enumerate(zip(py, js, strict=True)):
        for c, (p, j) in enumerate(zip(prow, jrow, strict=True)):
            if p != j:
                lines.append(
                    f"  {name} row {row} (step {int(history.steps[row])}) {history.names[c]}: "
                    f"state={int(history.state[row, c])} grad={float(history.grad_norm[row, c])!r} "
                    f"frozen={t['frozen'][c]} moves={t['moves'][c]} vanish={t['vanish']!r}: "
                    f"Python {p}, JS {j}"
                )
    return "\n".join(lines[:40]) + (f"\n  ... {len(lines) - 40} more" if len(lines) > 40 else "")


# -- the checks --------------------------------------------------------------------------------------


def test_the_same_health_kinds_in_the_same_order(parity):
    assert parity["js"]["health_kinds"] == KINDS  # worst last: a run is summed up by the maximum


def test_the_widget_decodes_the_watch_state_python_built(parity):
    for name, (history, state, _) in parity["cases"].items():
        js = parity["js"]["cases"][name]
        t = state["timeline"]
        assert js["names"] == history.names, name
        assert js["rows"] == len(history), name
        assert js["steps"] == [int(s) for s in history.steps], name
        assert js["frozen"] == t["frozen"], name
        assert js["moves"] == t["moves"] == summary.moves(history), name
        assert js["vanish"] == t["vanish"], name


def test_every_cell_has_the_same_health(parity):
    checked = set()
    for name, (history, state, _) in parity["cases"].items():
        py = parity["python"][name]["health"]
        js = parity["js"]["cases"][name]["health"]
        assert py == js, f"cells where Python and JS disagree:\n{_cell_report(name, history, state, py, js)}"
        checked.update(k for row in py for k in row)
    assert checked == set(KINDS)  # the cases reach every kind of health


def test_every_step_has_the_same_counts(parity):
    for name, (history, _, _) in parity["cases"].items():
        py = parity["python"][name]
        js = parity["js"]["cases"][name]
        for row, (p, j) in enumerate(zip(py["counts"], js["counts"], strict=True)):
            assert p == j, f"{name} row {row} (step {int(history.steps[row])}): Python {p}, JS {j}"
        assert py["worst"] == js["worst"], name


def test_the_same_words_for_every_step_and_the_run(parity):
    for name, (history, _, texts) in parity["cases"].items():
        if not texts:
            continue
        py = parity["python"][name]
        js = parity["js"]["cases"][name]
        for row, (p, j) in enumerate(zip(py["counts_text"], js["counts_text"], strict=True)):
            assert p == j, f"{name} row {row} (step {int(history.steps[row])}): Python {p!r}, JS {j!r}"
        assert py["run_text"] == js["run_text"], name


@pytest.mark.parametrize("vanish", THRESHOLDS)
def test_a_threshold_is_written_alike(parity, vanish):
    js = dict(zip(THRESHOLDS, parity["js"]["phrases"], strict=True))
    assert summary.phrase(summary.Health.vanishing, 2, vanish) == js[vanish]


def test_nan_and_inf_cross_the_wire(parity):
    """``_num`` sends NaN/Inf as strings (JSON has none); ``readNumber`` gives the numbers back."""
    decoded = [n["decoded"] for n in parity["js"]["numbers"]]
    assert decoded == ["NaN", "Infinity", "-Infinity", None, 1.5, 0.0, -2.5e-12]
    formatted = [n["formatted"] for n in parity["js"]["numbers"]]
    assert formatted[:5] == ["NaN", "Inf", "-Inf", "–", "1.5"]


def _expected(value: object) -> object:
    """What readNumber must give for a wire value (non-finite by name, as the script writes them)."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[
            value
        ]  # anything else breaks the contract
    assert isinstance(value, int | float) and math.isfinite(value)
    return value


def test_every_number_of_a_nan_graph_decodes(parity):
    """The graph of a trace with NaN and Inf gradients: each wire number is one the contract allows, and
    the front end reads it as Python meant it."""
    seen = set()
    for name, graph in parity["graphs"].items():
        fields = parity["js"]["graphs"][name]
        values = _graph_numbers(graph)
        assert [path for path, _, _ in fields] == [path for path, _ in values], name
        for (path, decoded, formatted), (_, value) in zip(fields, values, strict=True):
            assert decoded == _expected(value), f"{name} {path}: wire {value!r}, JS read {decoded!r}"
            if isinstance(value, str):
                assert formatted == {"nan": "NaN", "inf": "Inf", "-inf": "-Inf"}[value], f"{name} {path}"
                seen.add(value)
    assert {"nan", "inf"} <= seen  # the traces do hold non-finite numbers


def _graph_numbers(graph: dict) -> list[tuple[str, object]]:
    """The wire numbers of a graph, in the script's order (graphNumbers in health-parity.mjs)."""
    out = [(f"verdicts[{i}].grad_norm", v["grad_norm"]) for i, v in enumerate(graph["verdicts"])]
    for n in graph["nodes"]:
        if n["op"]:
            out.append((f"{n['id']}.op.grad_norm_in", n["op"]["grad_norm_in"]))
        for part in ("value", "grad"):
            s = (n["tensor"] or {}).get(part)
            if s:
                out += [(f"{n['id']}.tensor.{part}.{k}", s[k]) for k in ("min", "max", "mean", "std", "norm")]
    return out
