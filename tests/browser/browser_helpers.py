"""Finding things in the drawn widget (shared by the browser tests)."""

from __future__ import annotations

import pathlib
import re

#: Screenshots and other artefacts of the browser tests (gitignored).
OUTPUT = pathlib.Path(__file__).resolve().parents[1] / "_output"


def node(scope, node_id: str):
    """The graph node whose <title> is exactly ``node_id`` (has_text alone would match "p10" for "p1")."""
    page = getattr(scope, "page", scope)  # `has` takes a locator made from the page, not from scope
    title = page.locator("title", has_text=re.compile(f"^{re.escape(node_id)}$"))
    return scope.locator("svg.gv-svg g.node").filter(has=title)


def node_ids_filled(scope, color: str) -> list[str]:
    """Ids (exact <title> text) of the drawn nodes whose shape is filled with ``color``."""
    return scope.locator("svg.gv-svg").evaluate(
        """(svg, color) => [...svg.querySelectorAll("g.node")]
            .filter((g) => g.querySelector("polygon, path")?.getAttribute("fill") === color)
            .map((g) => g.querySelector("title").textContent)
            .sort()""",
        color,
    )


def wait_for_draws(root, count: int, timeout: float = 15_000) -> None:
    """Wait until the widget has finished ``count`` drawings (its data-draws counter)."""
    root.page.wait_for_function(
        "([el, n]) => Number(el.dataset.draws) >= n",
        arg=[root.element_handle(), count],
        timeout=timeout,
    )
