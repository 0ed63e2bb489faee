"""Monitor as a widget: the graph of the first backward, live updates, the final state, the export."""

from __future__ import annotations

import gc
import json
import weakref

import torch
from torch import nn

import gradviz
from gradviz import _monitor


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        model(torch.randn(3, 4)).sum().backward()
        opt.step()


def _model() -> tuple[nn.Module, torch.optim.Optimizer]:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def test_graph_of_the_first_backward_lines_up_with_the_history_columns() -> None:
    model, opt = _model()
    with gradviz.watch(model, optimizer=opt) as mon:
        assert mon.graph is None
        _train(model, opt, 2)
    graph = mon.graph[0]
    node_of = {v["name"]: v["node"] for v in graph["verdicts"]}
    assert set(node_of) == set(mon.history.names)
    assert all(node_of.values())  # every parameter is a node of the drawn graph
    timeline = mon.widget().timeline
    assert timeline["nodes"] == [node_of[name] for name in timeline["names"]]


def test_live_updates_are_throttled_and_close_sends_the_final_rows(monkeypatch) -> None:
    model, opt = _model()
    mon = gradviz.watch(model, optimizer=opt)
    widget = mon.widget()
    monkeypatch.setattr(_monitor, "_PUSH_INTERVAL", 0.0)  # every recorded step reaches the widget
    _train(model, opt, 3)
    assert widget.timeline["rows"] == 3
    assert widget.timeline["live"] is True
    monkeypatch.setattr(_monitor, "_PUSH_INTERVAL", 3600.0)  # throttled: no push within the hour
    _train(model, opt, 2)
    assert widget.timeline["rows"] == 3
    mon.close()
    assert widget.timeline["rows"] == 5
    assert widget.timeline["live"] is False


def test_display_and_standalone_export(tmp_path) -> None:
    model, opt = _model()
    with gradviz.watch(model, optimizer=opt) as mon:
        _train(model, opt, 4)
    data, _ = mon._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/plain"] == repr(mon)
    page = mon.save_html(tmp_path / "health.html").read_text(encoding="utf-8")
    assert '"rows":4' in page.replace(" ", "")
    assert json.dumps("Sequential: gradient health")[1:-1] in page


def test_the_monitor_does_not_keep_the_model_alive_after_close() -> None:
    model, opt = _model()
    mon = gradviz.watch(model, optimizer=opt)
    _train(model, opt, 1)
    mon.close()
    ref = weakref.ref(model)
    del model, opt
    gc.collect()
    assert ref() is None
    assert len(mon.history) == 1
