"""DOT source of the widget graph, built with the ``graphviz`` package (no ``dot`` binary needed).

Same picture as the widget: loss at the top, module boxes as nested clusters, parameters coloured by
severity from the palette, cut and NaN-birth markers with dashed edges, edge width from the gradient norm.

# NOTE [labels are user text]
# Module, parameter and op names and source lines come from user code. Every label and tooltip goes
# through ``dot_text``: backslashes doubled (a name ending in ``\\`` would otherwise escape the closing
# quote, and ``\\N``, ``\\l`` are Graphviz escapes), ``&`` written as ``&amp;`` (Graphviz decodes entities),
# control characters dropped, and the result marked ``nohtml`` so that a name like ``<b>bold</b>`` is
# quoted text, never an HTML-like label. Node ids are our own (``g12``, ``p3``, ``c0``, ``b0``).
"""

from __future__ import annotations

import math
import re
from array import array

import graphviz

_SHAPES = {
    "loss": "doubleoctagon",
    "op": "box",
    "param": "ellipse",
    "leaf": "ellipse",
    "cut": "note",
    "birth": "note",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


def dot_text(*lines: str) -> str:
    """A DOT label or tooltip showing ``lines`` literally, one per line (see NOTE [labels are user text])."""
    escaped = []
    for line in lines:
        line = _CONTROL.sub("", str(line).replace("\r\n", " ").replace("\n", " "))
        escaped.append(line.replace("\\", "\\\\").replace("&", "&amp;").replace('"', '\\"'))
    return graphviz.nohtml("\\n".join(escaped))


def to_dot(graph: dict, edge_norms: bytes = b"") -> str:
    palette = graph["palette"]
    dot = graphviz.Digraph("gradviz", graph_attr={"rankdir": "BT", "fontname": "Helvetica", "fontsize": "10"})
    dot.attr("node", fontname="Helvetica", fontsize="10", style="filled")
    dot.attr("edge", arrowsize="0.6")
    clusters: dict[str, graphviz.Digraph] = {}
    tree: dict[str, list[dict]] = {}
    for node in graph["nodes"]:
        tree.setdefault(node["module"] or "", []).append(node)
    for path in sorted(p for p in tree if p):
        for prefix in _prefixes(path):
            clusters.setdefault(prefix, graphviz.Digraph(f"cluster_{len(clusters)}"))
    for node in graph["nodes"]:
        owner = clusters[node["module"]] if node["module"] else dot  # every module path has its cluster
        owner.node(node["id"], **_node_attrs(node, palette))
    for path in sorted(clusters, key=lambda p: -p.count(".")):  # innermost first, then nest them
        sub = clusters[path]
        sub.attr(label=dot_text(path), style="rounded,dashed", color="#90a4ae", fontcolor="#546e7a")
        parent = path.rpartition(".")[0]
        clusters.get(parent, dot).subgraph(sub)
    norms = array("f", edge_norms) if edge_norms else array("f")
    top = max((n for n in norms if math.isfinite(n)), default=0.0)
    for i, edge in enumerate(graph["edges"]):
        attrs = {}
        if edge["kind"] in ("cut", "birth"):
            attrs = {"style": "dashed", "color": palette["cut" if edge["kind"] == "cut" else "nonfinite"]}
        elif i < len(norms) and math.isfinite(norms[i]) and top > 0:
            norm = norms[i]
            attrs = {"penwidth": f"{0.6 + 2.4 * norm / top:.2f}", "tooltip": dot_text(f"‖grad‖ {norm:.3g}")}
        dot.edge(edge["source"], edge["target"], **attrs)
    return dot.source


def _prefixes(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _node_attrs(node: dict, palette: dict) -> dict[str, str]:
    kind = node["kind"]
    severity = node.get("severity")
    tensor = node.get("tensor")
    if tensor:  # name and shape on two lines (the state's label joins them with a newline a name may hold)
        shape = "×".join(map(str, tensor.get("shape") or [])) or "scalar"
        label = dot_text(tensor["name"], shape)
    else:
        label = dot_text(node["label"])
    attrs = {"label": label, "shape": _SHAPES.get(kind, "box")}
    if node.get("where"):
        attrs["tooltip"] = dot_text(node["where"])
    if kind in ("cut", "birth"):
        color = palette["cut" if kind == "cut" else "nonfinite"]
        attrs.update(style="dashed,filled", fillcolor="#ffffff", color=color, fontcolor=color)
    elif kind == "loss":
        attrs.update(fillcolor=palette["loss"], fontcolor="white")
    elif severity and severity in palette:
        attrs.update(fillcolor=palette[severity], fontcolor="white")
    else:
        attrs.update(fillcolor=palette.get(kind, palette["op"]))
    return attrs
