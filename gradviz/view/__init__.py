"""The views, over plain records only: the text report, the widget state (JSON + float32 buffers), DOT
source, standalone HTML pages, the watch summaries, and the two anywidget classes (front end: ``js/``).

Depends only on the ground floor (``gradviz.records``). The widget classes import anywidget and the DOT
writer the ``graphviz`` package: they load on first use, so importing gradviz stays cheap.
"""

from __future__ import annotations

from typing import Any

from gradviz.view._assertion import failure_text
from gradviz.view._assertion import failures as learning_failures
from gradviz.view._export import run_summary_dict, verdicts_dict, verdicts_json
from gradviz.view._html import default_path, write_html
from gradviz.view._report import paragraphs, report, summary_line
from gradviz.view._scale import check_scale
from gradviz.view._state import build_state
from gradviz.view._watch_forensics import WatchForensics, watch_forensics
from gradviz.view._watch_headroom import WatchHeadroom, saved_columns, watch_headroom
from gradviz.view._watch_html import write_watch_html
from gradviz.view._watch_problems import nonfinite_text
from gradviz.view._watch_state import build_watch_state, stopped_text
from gradviz.view._watch_summary import counts_text, frozen_columns, run_text, step_counts

__all__ = [
    "WatchForensics",
    "WatchHeadroom",
    "build_state",
    "build_watch_state",
    "check_scale",
    "counts_text",
    "default_path",
    "failure_text",
    "frozen_columns",
    "graph_widget",
    "learning_failures",
    "monitor_widget",
    "nonfinite_text",
    "paragraphs",
    "report",
    "run_summary_dict",
    "run_text",
    "saved_columns",
    "step_counts",
    "stopped_text",
    "summary_line",
    "to_dot",
    "verdicts_dict",
    "verdicts_json",
    "watch_forensics",
    "watch_headroom",
    "write_html",
    "write_watch_html",
]


def graph_widget(graph: dict[str, Any], edge_norms: bytes, hists: bytes, scale: float = 0.0) -> Any:
    """The widget that draws a trace's graph (a ``GraphWidget``); ``scale``: its display scale (0: the one
    the browser remembers)."""
    from gradviz.view._widget import GraphWidget

    return GraphWidget(graph=graph, edge_norms=edge_norms, hists=hists, scale=scale)


def monitor_widget(state: dict[str, Any]) -> Any:
    """The watch widget (a ``MonitorWidget``) for a state from :func:`build_watch_state`."""
    from gradviz.view._watch_widget import MonitorWidget

    return MonitorWidget(**state)


def to_dot(graph: dict[str, Any], edge_norms: bytes = b"") -> str:
    """Graphviz DOT source of a trace's graph state."""
    from gradviz.view._dot import to_dot as dot

    return dot(graph, edge_norms)
