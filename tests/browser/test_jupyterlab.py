"""The user's path: a notebook in JupyterLab traces a model whose submodule is detached; the
widget draws the graph, exactly the detached parameters are red, and clicking, collapsing and
searching work. Leaves a screenshot in tests/_output/jupyterlab_widget.png, and the widget alone in
tests/_output/trace_widget.png (README.md's picture; GRADVIZ_README_IMAGES=1 redraws its copy).

In JupyterLab Dark and Dark High Contrast, a trace whose backward raised shows its banner and module
titles with a contrast of at least 4.5:1 (WCAG AA) against what is behind them."""

from __future__ import annotations

import json
import re

import pytest
from browser_helpers import OUTPUT, contrasts, node, node_ids_filled, picture, wait_for_draws
from lab_server import DARK, jupyterlab, start_session
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

README_IMAGE = picture("trace_widget.png")

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK_CELLS = [
    """\
import torch
from torch import nn

import gradviz


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(3, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = self.enc(x).detach()
        return self.head(torch.relu(h))
""",
    """\
torch.manual_seed(0)
model = Net()
with gradviz.trace(model) as t:
    loss = model(torch.randn(8, 3)).pow(2).mean()
    loss.backward()
t
""",
]
DETACHED = ["enc.bias", "enc.weight"]
RED = "#d32f2f"  # the palette's "red" (gradviz/view/_state.py)


# A backward that raises: sigmoid saves its output, the in-place mul_ changes it.
ERROR_CELLS = [
    NOTEBOOK_CELLS[0],
    """\
class Inplace(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(3, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.sigmoid(self.enc(x))
        h.mul_(2)
        return self.head(h)


model = Inplace()
try:
    with gradviz.trace(model) as t:
        model(torch.randn(8, 3)).sum().backward()
except RuntimeError:
    pass
t
""",
]


def _notebook(cells: list[str] = NOTEBOOK_CELLS) -> dict:
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    return {
        "cells": [{**cell, "source": source} for source in cells],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.fixture
def lab(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "NB.ipynb").write_text(json.dumps(_notebook()))
    with jupyterlab(notebooks, tmp_path / "jupyter") as url:
        start_session(url, "NB.ipynb")
        yield url


@pytest.fixture(params=["JupyterLab Dark", "JupyterLab Dark High Contrast"])
def dark_lab(request, tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "NB.ipynb").write_text(json.dumps(_notebook(ERROR_CELLS)))
    theme = {key: {"theme": request.param} for key in DARK}
    with jupyterlab(notebooks, tmp_path / "jupyter", overrides=theme) as url:
        start_session(url, "NB.ipynb")
        yield url


def _run_all(page) -> None:
    """Run All, once the kernel is really idle; check that a prompt changed (it can silently not run)."""
    page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=60_000)
    prompts = page.locator(".jp-Notebook .jp-InputArea-prompt")
    for _attempt in range(2):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            prompts.first.filter(has_text=re.compile(r"\[(\*|\d+)\]")).wait_for(timeout=10_000)
            return
        except PlaywrightTimeoutError:  # a Run All that did nothing: try once more
            page.keyboard.press("Escape")
    pytest.fail("Run All did not start executing the notebook")


def test_notebook_widget_shows_the_detached_parameters(browser, lab):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{lab}/lab/tree/NB.ipynb?reset")
        _run_all(page)
        root = page.locator(".jp-Notebook .gradviz-root")
        root.wait_for(timeout=120_000)
        wait_for_draws(root, 1, timeout=60_000)
        # Under load a second Run All can replace the output after the first drawing: wait for the
        # drawing of the widget that is there now to hold filled nodes before reading the colours.
        page.wait_for_function(
            "() => document.querySelector('.jp-Notebook .gradviz-root svg.gv-svg g.node polygon[fill]')",
            timeout=60_000,
        )

        red = node_ids_filled(root, RED)
        names = []
        for node_id in red:
            node(root, node_id).click()
            names.append(root.locator(".gv-inspector .gv-name").inner_text())
        assert sorted(names) == DETACHED

        node(root, red[0]).click()
        inspector = root.locator(".gv-inspector")
        assert inspector.locator(".gv-badge").inner_text() == "detach"
        assert re.search(r"Where\s+\S+:\d+", inspector.inner_text())
        assert "self.enc(x).detach()" in inspector.locator(".gv-code").inner_text()
        assert inspector.locator(".gv-row", has_text="Fix").inner_text().strip() != "Fix"
        OUTPUT.mkdir(exist_ok=True)
        root.evaluate('el => el.scrollIntoView({ block: "center" })')
        page.screenshot(path=str(OUTPUT / "jupyterlab_widget.png"))
        root.screenshot(path=str(README_IMAGE))  # the picture in README.md (see browser_helpers.picture)

        root.locator("svg.gv-svg g.cluster text", has_text="▾ head · Linear").click()
        wait_for_draws(root, 2)
        assert root.locator("svg.gv-svg g.node", has_text="▸ head").count() == 1

        search = root.get_by_placeholder("Find a parameter, op or module")
        search.fill("head.weight")
        search.press("Enter")
        wait_for_draws(root, 3)
        assert inspector.locator(".gv-name").inner_text() == "head.weight"
        assert root.locator("svg.gv-svg g.node.gv-selected").count() == 1
    finally:
        context.close()


def test_dark_theme_banner_and_module_titles_read_at_4_5_to_1(browser, dark_lab):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{dark_lab}/lab/tree/NB.ipynb?reset")
        page.locator('body[data-jp-theme-light="false"]').wait_for(state="attached", timeout=60_000)
        _run_all(page)
        root = page.locator(".jp-Notebook .gradviz-root")
        root.wait_for(timeout=120_000)
        wait_for_draws(root, 1, timeout=60_000)
        banner = root.locator(".gv-error")
        assert "An in-place operation changed a tensor" in banner.inner_text()
        assert "inplace_saved" not in banner.inner_text()
        measured = contrasts(root.locator(".gv-error, .gv-error *"))
        measured += contrasts(root.locator("svg.gv-svg g.cluster > text"))
        assert len([m for m in measured if m["text"].startswith("▾")]) == 2  # enc and head
        low = [m for m in measured if m["contrast"] < 4.5]
        assert low == [], low
        muted = contrasts(root.locator(".gv-title, .gv-legend-item, .gv-status, .gv-hint p"))
        assert [m for m in muted if m["contrast"] < 4.5] == []
        OUTPUT.mkdir(exist_ok=True)
        root.evaluate('el => el.scrollIntoView({ block: "center" })')
        theme = page.locator("body").get_attribute("data-jp-theme-name")
        page.screenshot(path=str(OUTPUT / f"{theme.lower().replace(' ', '_')}.png"))
    finally:
        context.close()
