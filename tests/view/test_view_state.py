"""Widget state and DOT built from real traces of the scenario corpus."""

from __future__ import annotations

import json
import math
import os
import pathlib
from array import array

import pytest
import torch
from torch import nn

import gradviz
from gradviz.records import HIST_BINS
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


def test_cut_markers_show_a_short_path_and_keep_the_full_one_for_the_inspector(tmp_path, monkeypatch) -> None:
    from gradviz.records import Site
    from gradviz.view._state import short_path, short_where

    inside = tmp_path / "pkg" / "model.py"
    assert short_path(str(inside), cwd=str(tmp_path)) == "pkg/model.py"
    assert short_path("/elsewhere/deep/train.py", cwd=str(tmp_path)) == "train.py"
    assert short_path("<stdin>", cwd=str(tmp_path)) == "<stdin>"
    assert short_where(Site(str(inside), 7)) == f"{short_path(str(inside))}:7"

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.Linear(3, 4)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.enc(x).detach())

    monkeypatch.chdir(tmp_path)  # this test file is outside the working directory: its name alone
    model = Net()
    with gradviz.trace(model) as t:
        model(torch.randn(5, 3)).sum().backward()
    graph, _, _ = build_state(t.capture, t.verdicts)
    cut = next(n for n in graph["nodes"] if n["kind"] == "cut")
    line = t.verdicts["enc.weight"].where.rsplit(":", 1)[1]
    assert cut["label"] == f"✂ .detach() — test_view_state.py:{line}"
    assert cut["where"] == t.verdicts["enc.weight"].where == f"{__file__}:{line}"


class _LogNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(3, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(torch.log(self.enc(x)))  # log of a negative: NaN born in the forward


def _nan_trace(model: nn.Module | None = None, x: torch.Tensor | None = None) -> gradviz.Trace:
    model = _LogNet() if model is None else model
    x = torch.randn(6, 3) if x is None else x
    with gradviz.trace(model) as t:
        model(x).sum().backward()
    return t


def _with_birth(t: gradviz.Trace):
    """The trace's capture with hand-filled Births: one at its log op, one not in the graph."""
    import dataclasses

    from gradviz.records import Birth

    cap = t.capture
    op = next(o for o in cap.ops if o.name == "log")
    node = next(n for n in cap.graph if n.name == "LogBackward0")
    birth = Birth("nan", "forward", op.index, "log", node.id, op.site, detail="from a negative input")
    orphan = Birth("inf", "backward", -1, "sqrt", None, op.site, detail="divides by sqrt(0)")
    return dataclasses.replace(cap, births=[birth, orphan]), node.id


def test_a_nan_birth_is_a_purple_marker_pointing_at_the_op_that_made_it() -> None:
    t = _nan_trace()
    enc = t.capture.targets[0]
    assert enc.name == "enc.weight"
    # plain torch agrees that the gradients are NaN, which is what a birth marker explains
    cap, log_node = _with_birth(t)
    graph, edge_norms, _ = build_state(cap, t.verdicts)
    json.dumps(graph, allow_nan=False)
    nodes = {n["id"]: n for n in graph["nodes"]}
    marker, orphan = nodes["b0"], nodes["b1"]
    site = next(o for o in cap.ops if o.name == "log").site
    assert marker["kind"] == "birth" and marker["severity"] == "nonfinite"
    assert marker["label"] == f"☢ NaN born: log — {os.path.basename(site.file)}:{site.line}"
    assert marker["where"] == site.where and "torch.log" in marker["code"]
    assert marker["birth"] == {
        "kind": "nan",
        "phase": "forward",
        "op": "log",
        "detail": "from a negative input",
        "masked_by": None,
        "masked_where": None,
    }
    assert marker["module"] == ""  # torch.log ran in Net.forward itself
    assert nodes[log_node]["severity"] == "nonfinite"  # the op that made it is drawn purple
    births = [e for e in graph["edges"] if e["kind"] == "birth"]
    assert births == [{"source": "b0", "target": log_node, "kind": "birth"}]
    assert len(array("f", edge_norms)) == len(graph["edges"])
    assert orphan["label"].startswith("☢ Inf born in backward: sqrt — ")  # not in the graph: no edge
    dot = to_dot(graph, edge_norms)
    assert '"b0" -> ' in dot or "b0 -> " in dot


def test_nan_gradients_of_the_birth_trace_are_real() -> None:
    """The trace the birth-marker tests decorate really has NaN gradients: on a copy of the same step plain
    torch gives a NaN loss and NaN gradients to the head; gradviz calls those nonfinite, and the others too
    (a NaN loss is never ok for the parameters it depends on), saying so."""
    import copy

    model, x = _LogNet(), torch.randn(6, 3)
    plain = copy.deepcopy(model)
    loss = plain(x).sum()
    loss.backward()
    t = _nan_trace(model, x)
    truth = {name for name, p in plain.named_parameters() if not torch.isfinite(p.grad).all()}
    assert truth and not torch.isfinite(loss)  # log of a negative made NaN somewhere
    assert all(v.cause.value == "nonfinite" for v in t.verdicts.values())
    for name, v in t.verdicts.items():
        assert ("the loss is nan" in v.message.lower()) == (name not in truth), (name, v.message)
    (birth,) = t.capture.births  # capture found the birth itself: the forward of log
    assert birth.phase == "forward" and birth.op_name == "log"


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("leaf_inplace", "leaf tensor that requires grad"),
        ("inplace_saved", "saved for the backward pass"),
        ("no_grad_root", "The loss has no grad_fn"),
        ("inference_saved", "inference_mode"),
        ("graph_freed", "second time"),
        ("non_scalar", "more than one element"),
    ],
)
def test_the_error_banner_explains_in_words_never_with_an_internal_key(kind: str, words: str) -> None:
    from gradviz.records import Capture, ErrorInfo

    cap = Capture(error=ErrorInfo("RuntimeError", "boom", "backward", None, kind))
    error = build_state(cap, {})[0]["error"]
    assert words in error["explanation"]
    assert "_" not in error["explanation"].split()[0] and kind not in error["explanation"]
    assert error["kind"] == kind


def test_an_unknown_error_kind_gets_no_explanation() -> None:
    from gradviz.records import Capture, ErrorInfo

    cap = Capture(error=ErrorInfo("ValueError", "bad shape", "forward", None, "other"))
    assert build_state(cap, {})[0]["error"]["explanation"] is None


def test_a_real_inplace_error_gets_its_sentence() -> None:
    lin = nn.Linear(3, 2)
    with pytest.raises(RuntimeError), gradviz.trace(lin) as t:
        h = torch.sigmoid(lin(torch.randn(4, 3)))
        h.mul_(2)
        h.sum().backward()
    error = build_state(t.capture, t.verdicts)[0]["error"]
    assert error["kind"] == "inplace_saved"
    assert error["explanation"].startswith("An in-place operation changed a tensor")


def test_save_html_with_no_path_writes_a_dated_file_in_the_working_directory(tmp_path, monkeypatch) -> None:
    import re

    monkeypatch.chdir(tmp_path)
    lin = nn.Linear(2, 1)
    with gradviz.trace(lin) as t:
        lin(torch.ones(1, 2)).sum().backward()
    first, second = t.save_html(), t.save_html()
    assert re.fullmatch(r"gradviz-Linear-\d{8}-\d{6}\.html", first.name)
    assert first.parent == tmp_path and first.is_file()
    assert second != first and second.is_file()  # same second: a suffix, never an overwrite
    explicit = t.save_html(tmp_path / "mine.html")
    assert explicit == tmp_path / "mine.html" and explicit.is_file()


def test_monitor_save_html_with_no_path_too(tmp_path, monkeypatch) -> None:
    import re

    monkeypatch.chdir(tmp_path)
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mon = gradviz.watch(model, optimizer=opt)
    try:
        for _ in range(2):
            opt.zero_grad()
            model(torch.randn(4, 2)).sum().backward()
            opt.step()
        path = pathlib.Path(mon.save_html())
    finally:
        mon.close()
    assert re.fullmatch(r"gradviz-Sequential-\d{8}-\d{6}\.html", path.name)
    assert path.parent == tmp_path and path.stat().st_size > 0


def test_default_path_names_are_safe_file_names(tmp_path) -> None:
    from gradviz.view._html import default_path

    path = default_path("../../etc/pass wd<x>", directory=tmp_path)
    assert path.parent == tmp_path
    assert "/" not in path.name and " " not in path.name and "<" not in path.name
    assert default_path("", directory=tmp_path).name.startswith("gradviz-trace-")


class _NonFinite(nn.Module):
    """Gradients of every kind of value, with a finite loss: ``a`` gets +Inf (sqrt'(0) = 1/0), ``b`` gets
    NaN (the classic masked sqrt: 0 x sqrt'(-1)), ``c`` an ordinary finite gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.zeros(3))
        self.b = nn.Parameter(-torch.ones(3))
        self.c = nn.Parameter(torch.ones(3))

    def forward(self) -> torch.Tensor:
        masked = torch.where(self.b > 0, self.b.sqrt(), torch.zeros(3))
        return self.a.sqrt().sum() + masked.sum() + (self.c * 2).sum()


def non_finite_trace() -> tuple[gradviz.Trace, dict[str, float]]:
    """The traced step of ``_NonFinite`` and the gradient norms plain torch gives the same step."""
    plain = _NonFinite()
    loss = plain()
    assert math.isfinite(loss.item())
    loss.backward()
    norms = {name: torch.linalg.vector_norm(p.grad).item() for name, p in plain.named_parameters()}
    model = _NonFinite()
    with gradviz.trace(model) as t:
        model().backward()
    return t, norms


def test_nan_and_inf_norms_cross_the_wire_as_the_words_the_front_end_reads() -> None:
    t, truth = non_finite_trace()
    assert math.isinf(truth["a"]) and truth["a"] > 0 and math.isnan(truth["b"])
    assert truth["c"] == pytest.approx(2 * math.sqrt(3))
    graph, _, _ = build_state(t.capture, t.verdicts)
    text = json.dumps(graph, allow_nan=False)  # strict JSON: no NaN/Infinity literals
    graph = json.loads(text)
    wire = {math.inf: "inf", -math.inf: "-inf"}
    expected = {k: "nan" if math.isnan(v) else wire.get(v, pytest.approx(v)) for k, v in truth.items()}
    verdicts = {v["name"]: v for v in graph["verdicts"]}
    params = {n["tensor"]["name"]: n for n in graph["nodes"] if n["kind"] == "param"}
    for name, norm in expected.items():
        assert verdicts[name]["grad_norm"] == norm, name
        assert params[name]["tensor"]["grad"]["norm"] == norm, name
    assert {name: verdicts[name]["cause"] for name in expected} == {
        "a": "nonfinite",
        "b": "nonfinite",
        "c": "ok",
    }
    # an all-Inf or all-NaN gradient has no finite value to take a minimum of: none is sent, not a string
    assert params["a"]["tensor"]["grad"]["min"] is None and params["a"]["tensor"]["grad"]["inf"] == 3
    assert params["b"]["tensor"]["grad"]["nan"] == 3


def test_the_widget_takes_a_display_scale_in_the_range_the_front_end_accepts() -> None:
    import re

    import traitlets

    from gradviz.view._widget import GraphWidget

    t, _ = non_finite_trace()
    state = build_state(t.capture, t.verdicts)
    assert GraphWidget(*state).scale == 0  # the size last chosen in the browser
    widget = GraphWidget(*state, scale=1.5)
    assert widget.scale == 1.5
    widget.scale = 1.25
    for bad in (0.5, 2.5, -1.0):
        with pytest.raises(traitlets.TraitError, match="between 1 and 2"):
            widget.scale = bad
    js = (pathlib.Path(__file__).resolve().parents[2] / "js" / "src" / "ui" / "scale.js").read_text()
    bounds = {k: float(v) for k, v in re.findall(r"export const (M\w+_DISPLAY_SCALE) = ([\d.]+);", js)}
    assert bounds == {"MIN_DISPLAY_SCALE": GraphWidget.MIN_SCALE, "MAX_DISPLAY_SCALE": GraphWidget.MAX_SCALE}


def test_trace_widget_and_save_html_take_a_scale_and_refuse_one_out_of_range(tmp_path) -> None:
    import gradviz

    model = torch.nn.Linear(3, 1)
    with gradviz.trace(model) as t:
        model(torch.randn(2, 3)).sum().backward()
    assert t.widget(scale=1.5).scale == 1.5
    assert t.widget().scale == 1.5  # the same widget, the scale kept
    assert t.widget(scale=1.25).scale == 1.25
    for bad in (3, 0.5, "big"):
        with pytest.raises((ValueError, TypeError), match="scale must be"):
            t.widget(scale=bad)
        with pytest.raises((ValueError, TypeError), match="scale must be"):
            t.save_html(tmp_path / "bad.html", scale=bad)
    assert not (tmp_path / "bad.html").exists()
    page = t.save_html(tmp_path / "big.html", scale=1.5).read_text(encoding="utf-8")
    assert '"scale": 1.5' in page or '"scale":1.5' in page
