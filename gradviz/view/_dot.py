"""DOT source of the widget graph, built with the ``graphviz`` package (no ``dot`` binary needed).

Same picture as the widget: loss at the top, module boxes as nested clusters, parameters coloured by
severity from the palette, cut markers with dashed red edges, edge width from the gradient norm.
"""

from __future__ import annotations

import math
from array import array

import graphviz

_SHAPES = {"loss": "doubleoctagon", "op": "box", "param": "ellipse", "leaf": "ellipse", "cut": "note"}


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
        owner = clusters.get(node["module"]) if node["module"] else dot
        owner.node(node["id"], **_node_attrs(node, palette))
    for path in sorted(clusters, key=lambda p: -p.count(".")):  # innermost first, then nest them
        sub = clusters[path]
        sub.attr(label=path, style="rounded,dashed", color="#90a4ae", fontcolor="#546e7a")
        parent = path.rpartition(".")[0]
        clusters.get(parent, dot).subgraph(sub)
    norms = array("f", edge_norms) if edge_norms else array("f")
    top = max((n for n in norms if math.isfinite(n)), default=0.0)
    for i, edge in enumerate(graph["edges"]):
        attrs = {}
        if edge["kind"] == "cut":
            attrs = {"style": "dashed", "color": palette["cut"]}
        elif i < len(norms) and math.isfinite(norms[i]) and top > 0:
            attrs = {"penwidth": f"{0.6 + 2.4 * norms[i] / top:.2f}", "tooltip": f"‖grad‖ {norms[i]:.3g}"}
        dot.edge(edge["source"], edge["target"], **attrs)
    return dot.source


def _prefixes(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _node_attrs(node: dict, palette: dict) -> dict[str, str]:
    kind = node["kind"]
    severity = node.get("severity")
    attrs = {"label": node["label"], "shape": _SHAPES.get(kind, "box")}
    if kind == "param" and severity:
        attrs.update(fillcolor=palette[severity], fontcolor="white")
    elif kind == "cut":
        attrs.update(fillcolor="#ffebee", color=palette["cut"], fontcolor=palette["cut"])
    elif kind == "loss":
        attrs.update(fillcolor=palette["loss"], fontcolor="white")
    else:
        attrs.update(fillcolor=palette.get(kind, palette["op"]))
    return attrs
