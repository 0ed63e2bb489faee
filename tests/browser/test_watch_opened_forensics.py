"""The watch view of a run opened later (``gradviz.open(log_dir)``) shows the first NaN/Inf's birth as the
live view did: the banner's birth line under its NaN/Inf line, and the replayed step's graph in the Graph
tab with the birth marker selected. Truth: the live monitor's page of the same run (whose words are checked
against plain torch by tests/api/test_watch_forensics*.py), and the source line of the op.

Screenshots: tests/_output/watch_opened_forensics_{banner,graph}_{light,dark}.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from browser_helpers import OUTPUT, open_watch_page, wait_for_draws

import gradviz

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from test_watch_forensics import Net, _batches, _train

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("opened")
    torch.manual_seed(0)
    model = Net(p=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with gradviz.watch(model, opt, weights_every=None, forensics=True, log_dir=folder / "run") as mon:
        _train(model, opt, _batches(8, bad=5))
    live = mon.save_html(folder / "live.html")
    run = gradviz.open(folder / "run")
    assert run.first_nonfinite.birth() == mon.first_nonfinite.birth()
    return {
        "live": live,
        "opened": run.save_html(folder / "opened.html"),
        "birth": mon.first_nonfinite.birth(),
    }


def _seen(browser, path: Path, scheme: str, shot: str | None) -> dict:
    """What the banner's birth line and the Graph tab show."""
    context, page = open_watch_page(browser, path, color_scheme=scheme)
    try:
        birth = page.locator('.gv-wt-problem[data-kind="nonfinite"] .gv-wt-birth')
        text = birth.locator(".gv-wt-birth-text").inner_text()
        if shot:
            OUTPUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUTPUT / f"watch_opened_forensics_banner_{shot}.png"))
        birth.get_by_role("button", name="Show in graph").click()
        wait_for_draws(
            page.locator('.gv-wt-graph-view[data-graph="replay"] .gradviz-root'), 1, timeout=60_000
        )
        page.wait_for_timeout(200)
        if shot:
            page.screenshot(path=str(OUTPUT / f"watch_opened_forensics_graph_{shot}.png"))
        view = page.locator('.gv-wt-graph-view[data-graph="replay"]')
        seen = {
            "text": text,
            "graph": page.locator(".gradviz-watch").get_attribute("data-graph"),
            "title": view.locator(".gv-title").inner_text(),
            "nodes": sorted(view.locator("svg.gv-svg g.node title").all_text_contents()),
            "selected": view.locator("svg.gv-svg g.node.gv-selected title").all_text_contents(),
            "marker": view.locator("svg.gv-svg g.node.gv-birth").all_text_contents(),
        }
        assert page.errors == []
        return seen
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_an_opened_run_shows_the_birth_and_the_replayed_graph_as_live(browser, pages, scheme):
    opened = _seen(browser, pages["opened"], scheme, scheme)
    live = _seen(browser, pages["live"], scheme, None)
    assert opened == live
    # the words: the op and line the live monitor found (plain torch's truth in tests/api)
    assert opened["text"].startswith("Replayed step 5: the Inf was born in the backward of sqrt at ")
    assert "test_watch_forensics.py:27" in opened["text"] and "test_watch_forensics.py:27" in pages["birth"]
    assert opened["graph"] == "replay" and opened["title"].startswith("Step 5, replayed")
    assert len(opened["selected"]) == 1 and opened["marker"] and "sqrt" in opened["marker"][0]
