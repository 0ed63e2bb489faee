"""Watch widget state (js/STATE.md "Watch widget state") from hand-made Histories; MonitorWidget's
traits and update(); the standalone watch page."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import gradviz
from gradviz.records import GradState, History
from gradviz.view._state import build_state
from gradviz.view._watch_html import write_watch_html
from gradviz.view._watch_state import WATCH_TRAITS, build_watch_state, module_of
from gradviz.view._watch_widget import MonitorWidget

NAMES = ["enc.weight", "enc.bias", "blocks.0.attn.proj.weight", "scale"]
NONE, ZERO, FINITE, NONFINITE = (
    int(s) for s in (GradState.none, GradState.zero, GradState.finite, GradState.nonfinite)
)


def history(rows: int = 5, names: list[str] = NAMES) -> History:
    """Finite norms everywhere, then: column 0 is None at row 1, NaN at row 2, +Inf at row 3;
    column 1 is exactly zero at row 1; update ratios measured on even rows only."""
    p = len(names)
    grad = np.arange(1, rows * p + 1, dtype=np.float32).reshape(rows, p) / 100
    state = np.full((rows, p), FINITE, np.uint8)
    grad[1, 0], state[1, 0] = np.nan, NONE
    grad[2, 0], state[2, 0] = np.nan, NONFINITE
    grad[3, 0], state[3, 0] = np.inf, NONFINITE
    grad[1, 1], state[1, 1] = 0.0, ZERO
    ratio = np.full((rows, p), np.nan, np.float32)
    ratio[::2] = 1e-3
    weight = np.full((rows, p), np.nan, np.float32)
    weight[::2] = 2.0
    return History(
        steps=np.arange(rows) * 10,
        names=names,
        grad_norm=grad,
        param_norm=weight,
        update_ratio=ratio,
        state=state,
        first_nonfinite=(20, "enc.weight"),
        every=10,
        stride=1,
    )


def decode(state: dict, key: str, dtype: str) -> np.ndarray:
    return np.frombuffer(state[key], dtype=dtype)


def test_byte_sizes_and_dtypes_follow_the_contract():
    h = history(rows=7)
    state = build_watch_state(h)
    assert set(state) == set(WATCH_TRAITS)
    rows, p = 7, len(NAMES)
    assert len(state["steps"]) == 4 * rows
    for key in ("grad_norm", "param_norm", "update_ratio"):
        assert len(state[key]) == 4 * rows * p
    assert len(state["state"]) == rows * p
    assert decode(state, "steps", "<i4").tolist() == list(range(0, 70, 10))
    np.testing.assert_array_equal(decode(state, "grad_norm", "<f4").reshape(rows, p), h.grad_norm)
    np.testing.assert_array_equal(decode(state, "update_ratio", "<f4").reshape(rows, p), h.update_ratio)
    np.testing.assert_array_equal(decode(state, "param_norm", "<f4").reshape(rows, p), h.param_norm)


def test_none_nan_and_inf_stay_distinct():
    state = build_watch_state(history())
    p = len(NAMES)
    grad = decode(state, "grad_norm", "<f4").reshape(-1, p)
    states = decode(state, "state", "u1").reshape(-1, p)
    # None and NaN both have no norm value: only `state` tells them apart, and it does.
    assert np.isnan(grad[1, 0]) and np.isnan(grad[2, 0])
    assert [states[1, 0], states[2, 0], states[3, 0], states[1, 1]] == [NONE, NONFINITE, NONFINITE, ZERO]
    assert grad[3, 0] == np.inf
    assert grad[1, 1] == 0.0
    assert np.isnan(decode(state, "update_ratio", "<f4").reshape(-1, p)[1]).all()


def test_timeline_names_modules_thresholds_and_first_nonfinite():
    timeline = build_watch_state(history(), live=True, vanish=1e-6, explode=5.0)["timeline"]
    assert timeline == {
        "version": 1,
        "names": NAMES,
        "modules": ["enc", "enc", "blocks.0.attn.proj", ""],
        "nodes": [None, None, None, None],
        "frozen": [False, False, False, False],  # no graph: unknown, never assumed
        "moves": [True, True, True, True],  # a non-zero update at a measured step with a finite gradient
        "rows": 5,
        "every": 10,
        "stride": 1,
        "weights_every": None,  # a hand-made History does not say
        "first_nonfinite": {"step": 20, "name": "enc.weight"},
        "forensics": None,  # no replay: tests/view/test_watch_forensics_state.py
        "headroom": None,  # not measured: tests/view/test_watch_headroom_state.py
        "loss_root": {"first": None, "replay": None},  # no graph: no root (tests/api/test_watch_loss_root.py)
        "vanish": 1e-6,
        "explode": 5.0,
        "live": True,
        "stopped": None,  # no internal error stopped it: tests/api/test_failsafe_watch.py
    }
    json.dumps(timeline, allow_nan=False)  # JSON only: no NaN sneaks into the timeline


@pytest.mark.parametrize("weights_every", [1, 100, None])
def test_timeline_says_how_often_the_weights_were_measured(weights_every):
    """The update-ratio chart says why it has nothing to draw from this: a run watched with the default
    weights_every=100 measures the weights once in 100 steps."""
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt, weights_every=weights_every) as mon:
        for _ in range(3):
            opt.zero_grad()
            model(torch.randn(4, 3)).sum().backward()
            opt.step()
    timeline = build_watch_state(mon.history)["timeline"]
    assert timeline["weights_every"] == weights_every
    measured = ~np.isnan(mon.history.update_ratio).all(axis=1)
    assert measured.sum() == {1: 3, 100: 1, None: 0}[weights_every]


def test_module_of_drops_the_last_dotted_part():
    assert module_of("enc.weight") == "enc"
    assert module_of("layers.0.attn.in_proj_weight") == "layers.0.attn"
    assert module_of("scale") == ""


def test_empty_history_and_no_graph_give_empty_traits():
    state = build_watch_state(History.empty(["w"]))
    assert state["timeline"]["rows"] == 0
    assert state["timeline"]["first_nonfinite"] is None
    assert state["timeline"]["live"] is False
    assert (state["steps"], state["grad_norm"], state["state"]) == (b"", b"", b"")
    assert (state["graph"], state["edge_norms"], state["hists"]) == ({}, b"", b"")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(3, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.enc(x)))


@pytest.fixture(scope="module")
def graph_state() -> tuple[dict, bytes, bytes]:
    torch.manual_seed(0)
    model = Net()
    with gradviz.trace(model) as t:
        model(torch.randn(8, 3)).pow(2).mean().backward()
    return build_state(t.capture, t.verdicts)


def test_columns_map_to_graph_nodes_through_the_verdicts(graph_state):
    graph, edge_norms, hists = graph_state
    names = ["head.bias", "enc.weight", "not.in.graph"]
    state = build_watch_state(history(names=names), graph_state)
    node_of = {v["name"]: v["node"] for v in graph["verdicts"]}
    nodes = state["timeline"]["nodes"]
    assert nodes == [node_of["head.bias"], node_of["enc.weight"], None]
    by_id = {n["id"]: n for n in graph["nodes"]}
    assert [by_id[n]["kind"] for n in nodes[:2]] == ["param", "param"]
    assert state["graph"] is graph
    assert (state["edge_norms"], state["hists"]) == (edge_norms, hists)


def test_a_saved_history_gives_the_same_state(tmp_path):
    h = history()
    h.save(tmp_path / "run.npz")
    assert build_watch_state(History.load(tmp_path / "run.npz")) == build_watch_state(h)


@pytest.mark.parametrize(("key", "value"), [("vanish", 0.0), ("explode", float("nan")), ("vanish", "1e-7")])
def test_bad_thresholds_are_refused(key, value):
    with pytest.raises(ValueError, match=f"{key} must be a finite number above 0"):
        build_watch_state(history(), **{key: value})


def test_steps_beyond_int32_are_refused():
    h = history()
    h.steps = h.steps + 2**31
    with pytest.raises(ValueError, match="must fit in int32"):
        build_watch_state(h)


# --- MonitorWidget -------------------------------------------------------------------------------


def test_widget_takes_the_state_as_traits():
    state = build_watch_state(history(), live=True)
    widget = MonitorWidget(**state)
    assert widget.timeline == state["timeline"]
    assert widget.grad_norm == state["grad_norm"]
    assert widget.state == state["state"]
    assert (widget.step, widget.selected) == (-1, "")
    assert "export default" in widget._esm or "export{" in widget._esm


def test_widget_refuses_unknown_arguments_saying_what_it_accepts():
    state = build_watch_state(history())
    accepts = r"unexpected keyword argument\(s\) colour; it accepts timeline, steps"
    with pytest.raises(TypeError, match=accepts):
        MonitorWidget(colour="red", **state)
    widget = MonitorWidget(**state)
    with pytest.raises(TypeError, match=r"update\(\) got unexpected keyword argument\(s\) rows"):
        widget.update({"rows": 3})


def test_update_sends_only_the_changed_traits_in_one_message(monkeypatch):
    widget = MonitorWidget(**build_watch_state(history(rows=4), live=True))
    sent: list[set[str]] = []
    monkeypatch.setattr(widget, "send_state", lambda key=None: sent.append(set(key or ())))
    widget.update(build_watch_state(history(rows=4), live=True))
    assert sent == []  # nothing changed: nothing sent
    widget.selected = "enc.bias"  # what the front end set is kept
    sent.clear()
    widget.update(build_watch_state(history(rows=5), live=True))
    assert sent == [{"timeline", "steps", "grad_norm", "param_norm", "update_ratio", "state"}]
    assert widget.timeline["rows"] == 5
    assert widget.selected == "enc.bias"


# --- the standalone page -------------------------------------------------------------------------


def test_watch_page_inlines_the_state_safely(tmp_path):
    hostile = "</script><script>alert(1)</script><!--"
    state = build_watch_state(history(names=[f"{hostile}.weight", "b"]), live=True)
    path = write_watch_html(tmp_path / "watch.html", state, title=hostile)
    page = path.read_text(encoding="utf-8")
    assert page.count("</script") == 2  # the two elements' own closing tags
    assert "<!--" not in page
    start = page.index('id="gradviz-state">') + len('id="gradviz-state">')
    inlined = json.loads(page[start : page.index("</script>", start)])
    assert inlined["values"]["timeline"]["names"][0] == f"{hostile}.weight"
    assert inlined["values"]["timeline"]["live"] is False  # a page is a snapshot
    assert (inlined["values"]["step"], inlined["values"]["selected"]) == (-1, "")
    assert set(inlined["bytes"]) == set(WATCH_TRAITS) - {"timeline", "graph", "replay"}


def test_watch_page_needs_the_whole_state(tmp_path):
    state = build_watch_state(history())
    del state["state"]
    with pytest.raises(ValueError, match="state lacks state; pass the dict that build_watch_state"):
        write_watch_html(tmp_path / "w.html", state, "x")


def test_the_watch_graph_of_a_healthy_run_marks_no_parameter_as_a_problem() -> None:
    # the graph is taken as the first backward begins, before any gradient arrives: reached parameters
    # are in the graph, not "unused" (which would draw them red and keep every module from folding)
    import torch
    from torch import nn

    import gradviz

    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt) as mon:
        for _ in range(2):
            opt.zero_grad()
            model(torch.randn(5, 3)).pow(2).mean().backward()
            opt.step()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    graph = mon.graph[0]
    params = [n for n in graph["nodes"] if n["kind"] == "param"]
    assert len(params) == 4
    assert {n["severity"] for n in params} == {"ok"}, [(n["label"], n["severity"]) for n in params]
