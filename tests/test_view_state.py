"""Widget state and DOT built from real traces of the scenario corpus."""

from __future__ import annotations

import json
import math
from array import array

import pytest
import torch
from torch import nn

import gradviz
from gradviz.capture._stats import HIST_BINS
from gradviz.view._dot import to_dot
from gradviz.view._state import build_state

from scenarios import _corpus

SCENARIOS = _corpus.load_all()


def _trace_of(scenario: _corpus.Scenario) -> gradviz.Trace:
    made: list[gradviz.Trace] = []

    def trace(*args, **kwargs):
        made.append(gradviz.trace(*args, **kwargs))
        return made[-1]

    try:
        scenario.run(trace)
    except Exception:
        assert scenario.raises is not None
    return made[-1]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_red_nodes_are_exactly_the_parameters_that_will_not_learn(scenario: _corpus.Scenario) -> None:
    t = _trace_of(scenario)
    graph, edge_norms, hists = build_state(t.capture, t.verdicts)
    json.dumps(graph, allow_nan=False)  # valid JSON for the front end: no NaN/Inf literals
    nodes = {n["id"]: n for n in graph["nodes"]}
    red = {n["tensor"]["name"] for n in graph["nodes"] if n["kind"] == "param" and n["severity"] == "red"}
    assert red == {k for k, v in t.verdicts.items() if v.cause.severity == "red"}
    # every parameter is drawn once; every edge joins drawn nodes; buffers have the promised sizes
    params = [n["tensor"]["name"] for n in graph["nodes"] if n["kind"] == "param"]
    assert sorted(params) == sorted(t.verdicts)
    assert all(e["source"] in nodes and e["target"] in nodes for e in graph["edges"])
    assert len(array("f", edge_norms)) == len(graph["edges"])
    assert len(array("f", hists)) % HIST_BINS == 0
    for v in graph["verdicts"]:
        assert v["node"] in nodes
    # each red parameter explained by a cut hangs off that cut's marker with a dashed edge
    cut_edges = [e for e in graph["edges"] if e["kind"] == "cut"]
    cut_parents = {e["source"] for e in cut_edges if nodes[e["target"]]["kind"] == "cut"}
    for v in graph["verdicts"]:
        if v["cause"] in ("detach", "data", "no_grad", "non_differentiable", "escaped", "checkpoint"):
            assert v["node"] in cut_parents, v["name"]
    assert to_dot(graph, edge_norms).startswith("digraph")


def test_user_text_is_escaped_in_dot() -> None:
    class Evil(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.add_module('x"] ; <img src=x onerror=alert(1)>', nn.Linear(2, 1))

        def forward(self, x):
            return next(iter(self.children()))(x)

    model = Evil()
    with gradviz.trace(model) as t:
        model(torch.randn(1, 2)).sum().backward()
    dot = t.to_dot()
    assert '"x\\"] ; <img src=x onerror=alert(1)>.weight' in dot  # quoted, the quote escaped
    assert '\nx"]' not in dot


def test_summaries_in_state_are_complete_and_exact_for_small_tensors() -> None:
    w = torch.tensor([[0.0, 1.0], [2.0, -3.0]], requires_grad=True)
    with gradviz.trace({"w": w}) as t:
        (w * w).sum().backward()
    graph, _, hists = build_state(t.capture, t.verdicts)
    node = next(n for n in graph["nodes"] if n["kind"] == "param")
    value = node["tensor"]["value"]
    assert (value["min"], value["max"], value["zeros"], value["nan"]) == (-3.0, 2.0, 1, 0)
    assert value["mean"] == 0.0 and value["norm"] == pytest.approx(math.sqrt(14))
    grad = node["tensor"]["grad"]
    assert grad["norm"] == pytest.approx(2 * math.sqrt(14)) and not grad["sampled"]
    row = array("f", hists)[grad["hist"] * HIST_BINS : (grad["hist"] + 1) * HIST_BINS]
    assert sum(row) == 4


def test_cut_marker_joins_the_op_that_consumed_the_cut_value() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.Linear(3, 4)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.enc(x).detach())

    model = Net()
    with gradviz.trace(model) as t:
        model(torch.randn(5, 3)).sum().backward()
    graph, _, _ = build_state(t.capture, t.verdicts)
    nodes = {n["id"]: n for n in graph["nodes"]}
    cut = next(n for n in graph["nodes"] if n["kind"] == "cut")
    joined = [nodes[e["target"]] for e in graph["edges"] if e["source"] == cut["id"]]
    assert [n["label"] for n in joined] == ["AddmmBackward0"]
    assert joined[0]["module"] == "head"


def test_one_marker_per_cut_line_even_when_it_cuts_many_submodules() -> None:
    import warnings

    from torch.utils.checkpoint import checkpoint

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.Linear(4, 4)
            self.mlp = nn.Linear(4, 4)

        def forward(self, x):
            return self.mlp(torch.relu(self.attn(x)))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = Block()
            self.head = nn.Linear(4, 1)

        def forward(self, x):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "None of the inputs have requires_grad=True")
                h = checkpoint(self.block, x, use_reentrant=True)
            return self.head(h)

    model = Net()
    with gradviz.trace(model) as t:
        model(torch.randn(2, 4)).sum().backward()
    graph, _, _ = build_state(t.capture, t.verdicts)
    markers = [n for n in graph["nodes"] if n["kind"] == "cut"]
    assert len(markers) == 1
    assert markers[0]["label"].startswith("✂ checkpoint")
    assert markers[0]["module"] == "block"  # the box of the checkpointed module, holding attn and mlp
    hanging = {e["source"] for e in graph["edges"] if e["target"] == markers[0]["id"]}
    assert len(hanging) == 4  # attn and mlp, weight and bias
