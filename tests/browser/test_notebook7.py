"""Notebook 7 renders a tutorial: notebooks/02_reading_the_autograd_graph.ipynb run with "Run All" in
the classic-style Notebook 7 interface draws both of its graph widgets, and the one with the detached
layer colours exactly its cut parameters red. Leaves tests/_output/notebook7_tutorial02.png."""

from __future__ import annotations

import pathlib
import re
import shutil

import pytest
from browser_helpers import OUTPUT, node, node_ids_filled, wait_for_draws
from lab_server import jupyterlab, start_session
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TUTORIAL = pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "02_reading_the_autograd_graph.ipynb"
RED = "#d32f2f"  # the palette's "red" (gradviz/view/_state.py)


@pytest.fixture
def notebook7(tmp_path):
    pytest.importorskip("notebook", reason="Notebook 7 is in the test extra (pip install -e '.[test]')")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(TUTORIAL, folder / "NB.ipynb")
    with jupyterlab(folder, tmp_path / "jupyter", app="notebook") as url:
        start_session(url, "NB.ipynb")
        yield url


def _answer_dialogs(page) -> None:
    """A slow kernel start can leave a dialog (kernel selection) over the page: take its default."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        print("Notebook 7 dialog:", dialog.first.inner_text().replace("\n", " | "))  # shown with -rA
        dialog.first.locator("button.jp-mod-accept").last.click()
        dialog.first.wait_for(state="detached", timeout=10_000)


def _run_all(page) -> None:
    """Run All once the kernel is idle (before that it silently does nothing); check a prompt changed."""
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt")
    prompts.first.wait_for(timeout=60_000)
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first.wait_for(
        state="attached", timeout=90_000
    )
    for _attempt in range(3):
        _answer_dialogs(page)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            prompts.first.filter(has_text=re.compile(r"\[(\*|\d+)\]")).wait_for(timeout=10_000)
            return
        except PlaywrightTimeoutError:  # a Run All that did nothing: try again
            page.keyboard.press("Escape")
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "notebook7_run_all_failed.png"))
    pytest.fail("Run All did not start executing the notebook")


def test_notebook7_runs_tutorial_02_and_draws_its_graphs(browser, notebook7):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []  # errors thrown by the widget's code (anywidget imports it from a blob: URL)
    page.on("pageerror", lambda e: "blob:" in (e.stack or "") and errors.append(e.stack))
    try:
        page.goto(f"{notebook7}/notebooks/NB.ipynb")
        _run_all(page)
        # every code cell ran (the last prompt has a number) and none raised
        last = page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt").last
        last.filter(has_text=re.compile(r"\[\d+\]")).wait_for(timeout=240_000)
        assert page.locator(".jp-Notebook .jp-OutputArea-output[data-mime-type*='error']").count() == 0
        roots = page.locator(".jp-Notebook .gradviz-root")
        roots.nth(1).wait_for(timeout=120_000)
        assert roots.count() == 2  # the MLP, then the MLP with a .detach()
        for i in range(2):
            wait_for_draws(roots.nth(i), 1, timeout=60_000)
        assert node_ids_filled(roots.nth(0), RED) == []
        cut = roots.nth(1)
        red = node_ids_filled(cut, RED)
        names = []
        for node_id in red:
            node(cut, node_id).click()
            names.append(cut.locator(".gv-inspector .gv-name").inner_text())
        assert sorted(names) == ["fc1.bias", "fc1.weight"]
        assert errors == []
        OUTPUT.mkdir(exist_ok=True)
        cut.evaluate('el => el.scrollIntoView({ block: "center" })')
        page.screenshot(path=str(OUTPUT / "notebook7_tutorial02.png"))
    finally:
        context.close()
