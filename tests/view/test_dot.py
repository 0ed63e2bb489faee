"""``to_dot()``: every label is escaped for Graphviz (issue 13, point 6).

The DOT is parsed and laid out by the same WASM Graphviz the widget uses (``@viz-js/viz`` from js/,
run in Node): no system ``dot``. A label is right when Graphviz draws exactly the user's text.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
import torch
from graphviz.quoting import quote
from torch import nn

import gradviz
from gradviz.view._dot import dot_text, to_dot
from gradviz.view._state import PALETTE

JS = pathlib.Path(__file__).resolve().parents[2] / "js"
SVG = "{http://www.w3.org/2000/svg}"

# Names a module may have (add_module accepts any string without a dot).
HOSTILE = [
    "<b>bold</b>",
    "ends with a backslash \\",
    "two backslashes \\\\",
    'quote " inside',
    'escaped quote \\" inside',
    "entity &lt; and &amp;",
    "graphviz escapes \\N \\G \\l \\n",
    "<<table></table>>",
    "node",
    "line\nbreak",
    "brace } ; [label=x]",
]

RENDER = """
import { instance } from "@viz-js/viz";
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const viz = await instance();
const out = viz.render(Buffer.concat(chunks).toString("utf8"), { format: "svg", engine: "dot" });
process.stdout.write(JSON.stringify({ status: out.status, output: out.output ?? "", errors: out.errors }));
"""


def _graphviz(dot: str) -> str:
    """SVG text of ``dot`` laid out by @viz-js/viz; fails the test if Graphviz reports an error."""
    if shutil.which("node") is None or not (JS / "node_modules" / "@viz-js" / "viz").is_dir():
        message = "node and js/node_modules are needed to parse DOT with the WASM Graphviz (npm ci in js/)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        ["node", "--input-type=module", "-e", RENDER],
        cwd=JS,
        input=dot,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "success", result["errors"]
    assert not [e for e in result["errors"] if e["level"] == "error"], result["errors"]
    return result["output"]


def _texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def _graph_with_names(names: list[str]) -> dict:
    nodes = [
        {"id": f"g{i}", "kind": "op", "label": name, "module": f"m{i}", "severity": None, "where": None}
        for i, name in enumerate(names)
    ]
    modules = [{"path": f"m{i}", "type": "Linear"} for i in range(len(names))]
    edges = [{"source": f"g{i + 1}", "target": f"g{i}", "kind": "grad"} for i in range(len(names) - 1)]
    return {"palette": PALETTE, "nodes": nodes, "edges": edges, "modules": modules}


@pytest.mark.parametrize("name", HOSTILE)
def test_dot_text_is_never_an_html_label_and_keeps_backslashes(name: str) -> None:
    text = dot_text(name)
    dot = f"digraph g {{ a [label={quote(text)}] }}"
    drawn = _texts(_graphviz(dot))
    assert drawn == [name.replace("\n", " ")]


def test_to_dot_draws_every_hostile_module_and_parameter_name_as_plain_text() -> None:
    model = nn.Module()
    for i, name in enumerate(HOSTILE):
        if "." not in name:
            model.add_module(name, nn.Linear(2, 2, bias=i % 2 == 0))
    layers = list(model.children())

    class Chain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, x):
            for layer in layers:
                x = layer(x)
            return x

    net = Chain()
    with gradviz.trace(net) as t:
        net(torch.randn(3, 2)).sum().backward()
    dot = t.to_dot()
    svg = _graphviz(dot)
    texts = _texts(svg)
    for name in HOSTILE:
        flat = name.replace("\n", " ")
        assert f"inner.{flat}" in texts, name  # the module box title
        assert any(line.startswith(f"inner.{flat}.weight") for line in texts), name
    assert "<b>" not in svg.replace("&lt;b&gt;", "")  # no HTML-like label became markup


def test_dot_of_a_graph_with_markers_and_hostile_labels_lays_out() -> None:
    graph = _graph_with_names(HOSTILE)
    graph["nodes"].append(
        {"id": "c0", "kind": "cut", "label": "✂ .detach() — <i>x</i>.py:3", "module": "", "severity": "red"}
    )
    graph["nodes"].append(
        {
            "id": "b0",
            "kind": "birth",
            "label": "☢ NaN born: log — a\\b.py:1",
            "module": "",
            "severity": "nonfinite",
        }
    )
    graph["edges"] += [
        {"source": "c0", "target": "g0", "kind": "cut"},
        {"source": "b0", "target": "g1", "kind": "birth"},
    ]
    texts = _texts(_graphviz(to_dot(graph)))
    for name in HOSTILE:
        assert name.replace("\n", " ") in texts
    assert "✂ .detach() — <i>x</i>.py:3" in texts
    assert "☢ NaN born: log — a\\b.py:1" in texts
