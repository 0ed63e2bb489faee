"""NaN forensics in the watch view, in Chromium (issue 21 point 1, its view): the banner's NaN/Inf line says
where the first NaN was born, and the Graph tab shows that step replayed under trace, the birth marked.

Two runs of the done-when, trained under ``gradviz.watch(..., forensics=True)``:
- the GPT-12 of tests/api/test_watch_forensics.py that goes NaN at step 60 from a fully masked attention
  row (born in the forward of softmax, at its line in that file);
- the same GPT with a loss that takes the log of a negative value (tests/api/test_watch_forensics_state.py):
  the model's output is finite and the gradient arriving at it is not, so it came from the loss.

Truth: plain torch trains the same runs with no gradviz (the step that first had a NaN gradient, the
parameters it hit, whether the model's output was finite), and the op's line is read from the model's
source. As saved pages (light and dark), and live: in JupyterLab, the widget of a running training loop
shows the birth while the loop still runs. Screenshots: tests/_output/watch_forensics_*.png.
"""

from __future__ import annotations

import inspect
import json
import pathlib
import re
import sys

import pytest
import torch
import torch.nn.functional as F
from browser_helpers import OUTPUT, contrasts, node, open_watch_page

import gradviz

API = pathlib.Path(__file__).resolve().parents[1] / "api"
if str(API) not in sys.path:
    sys.path.insert(0, str(API))
from test_watch_forensics import _Attn, gpt12_batches, gpt12_make, gpt12_run  # noqa: E402
from test_watch_forensics_state import LOG_AT, log_counts, log_loss_run  # noqa: E402

pytestmark = pytest.mark.browser

NAN_PURPLE = "#7b1fa2"  # the palette's "nonfinite" (gradviz/view/_state.py): an op a NaN was born in
SOFTMAX_LINE = next(
    start + i
    for lines, start in [inspect.getsourcelines(_Attn.forward)]
    for i, line in enumerate(lines)
    if "F.softmax(att" in line
)
SOURCE = pathlib.Path(inspect.getsourcefile(_Attn)).name


def _nonfinite(model) -> list[str]:
    return [n for n, p in model.named_parameters() if p.grad is not None and not p.grad.isfinite().all()]


def _one_thread(fn):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def masked(tmp_path_factory) -> dict:
    """The masked-row GPT-12, watched and saved; plain torch's first NaN step and the parameters it hit."""

    def run():
        batches = gpt12_batches()
        plain, plain_opt = gpt12_make()
        truth: dict = {}
        for step, (idx, keep) in enumerate(batches):
            plain_opt.zero_grad()
            F.cross_entropy(plain(idx[:, :-1], keep=keep).flatten(0, 1), idx[:, 1:].flatten()).backward()
            if _nonfinite(plain):
                truth = {"step": step, "hit": _nonfinite(plain)}
                break
            plain_opt.step()
        model, opt = gpt12_make()
        with gradviz.watch(model, opt, forensics=True) as mon:
            gpt12_run(model, opt, batches)
        return mon, truth

    mon, truth = _one_thread(run)
    path = mon.save_html(tmp_path_factory.mktemp("forensics") / "gpt12_masked.html")
    return {"path": path, **truth}


@pytest.fixture(scope="module")
def from_loss(tmp_path_factory) -> dict:
    """The GPT-12 whose loss takes the log of a negative count; plain torch's truth of that step."""

    def run():
        steps = LOG_AT + 2
        batches, counts = gpt12_batches(steps, empty_at=-1), log_counts(steps)
        plain, plain_opt = gpt12_make()
        truth: dict = {}

        def look(step, logits, model):
            if "step" not in truth and _nonfinite(model):
                truth.update(
                    step=step,
                    hit=_nonfinite(model),
                    output_finite=bool(logits.isfinite().all()),
                    arrived_finite=bool(logits.grad.isfinite().all()),
                )

        log_loss_run(plain, plain_opt, batches, counts, look)
        model, opt = gpt12_make()
        with gradviz.watch(model, opt, forensics=True) as mon:
            log_loss_run(model, opt, batches, counts)
        return mon, truth

    mon, truth = _one_thread(run)
    path = mon.save_html(tmp_path_factory.mktemp("forensics") / "gpt12_log_loss.html")
    return {"path": path, **truth}


def _replay_panel(page):
    """The replayed graph's panel, once drawn."""
    panel = page.locator('.gv-wt-graph-view[data-graph="replay"] .gradviz-root')
    page.wait_for_function(
        "el => Number(el.dataset.draws) >= 1", arg=panel.element_handle(timeout=30_000), timeout=60_000
    )
    return panel


def _inside(inner, outer) -> bool:
    a, b = inner.bounding_box(), outer.bounding_box()
    return (
        a is not None
        and b is not None
        and b["x"] <= a["x"]
        and a["x"] + a["width"] <= b["x"] + b["width"]
        and b["y"] <= a["y"]
        and a["y"] + a["height"] <= b["y"] + b["height"]
    )


def _nonfinite_drawn(panel) -> list[str]:
    """Names of the parameter nodes drawn in the NaN/Inf colour, or inside a box drawn so."""
    return panel.locator("svg.gv-svg").evaluate(
        """(svg, color) => [...svg.querySelectorAll("g.node")]
            .filter((g) => g.querySelector("polygon, path")?.getAttribute("fill") === color)
            .map((g) => g.querySelector("title").textContent)""",
        NAN_PURPLE,
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_masked_row_banner_names_the_softmax_line_and_the_graph_marks_the_birth(browser, masked, scheme):
    assert masked["step"] == 60  # plain torch: the step whose gradient first went NaN
    context, page = open_watch_page(browser, masked["path"], width=1400, height=1000, color_scheme=scheme)
    try:
        line = page.locator('.gv-wt-problem[data-kind="nonfinite"]')
        birth = line.locator(".gv-wt-birth-text")
        where = f"{SOURCE}:{SOFTMAX_LINE}"
        assert birth.inner_text().startswith(
            f"Replayed step {masked['step']}: the NaN was born in the forward of softmax at {where} — "
        )
        assert "masked entirely" in birth.inner_text()
        assert birth.get_attribute("title").endswith(f"{SOURCE}:{SOFTMAX_LINE}")  # the full path
        low = [m for m in contrasts(page.locator(".gv-wt-birth, .gv-wt-birth *")) if m["contrast"] < 4.5]
        assert low == [], low  # WCAG AA, light and dark
        OUTPUT.mkdir(exist_ok=True)
        page.locator(".gv-wt-banner").screenshot(
            path=str(OUTPUT / f"watch_forensics_gpt12_banner_{scheme}.png")
        )

        line.get_by_role("button", name="Show in graph").click()
        watch = page.locator(".gradviz-watch")
        assert (watch.get_attribute("data-tab"), watch.get_attribute("data-graph")) == ("graph", "replay")
        panel = _replay_panel(page)
        title = f"Step {masked['step']}, replayed: NaN born in softmax (forward) at {where}"
        assert panel.locator(".gv-title").inner_text() == title
        choice = page.locator('.gv-wt-graph-choice[data-graph="replay"]')
        assert choice.inner_text() == f"Step {masked['step']}, replayed"
        assert choice.get_attribute("aria-pressed") == "true"
        # the birth marker, selected and in view, with its edge to the softmax drawn in the NaN colour
        marker = panel.locator("svg.gv-svg g.node.gv-selected")
        assert marker.locator("title").text_content() == "b0"
        assert f"NaN born: softmax — {where}" in " ".join(marker.locator("text").all_text_contents())
        assert _inside(marker, panel.locator(".gv-canvas"))
        edge = panel.locator("svg.gv-svg g.edge.gv-birth")
        assert edge.count() == 1  # the marker's edge to the op the NaN was born in
        source, target = edge.locator("title").text_content().split("->")
        assert source == "b0" and target in _nonfinite_drawn(panel)  # that op drawn in the NaN colour
        bar = page.locator(".gv-wt-graph-bar, .gv-wt-graph-bar *")
        assert [m for m in contrasts(bar) if m["contrast"] < 4.5] == []
        inspector = panel.locator(".gv-inspector")
        assert "softmax" in inspector.inner_text() and "F.softmax(att, dim=-1)" in inspector.inner_text()
        page.locator(".gradviz-watch").screenshot(
            path=str(OUTPUT / f"watch_forensics_gpt12_graph_{scheme}.png")
        )

        # the first backward's graph, one click away, titled for what it is; and back
        page.locator('.gv-wt-graph-choice[data-graph="first"]').click()
        first = page.locator('.gv-wt-graph-view[data-graph="first"] .gradviz-root')
        first.wait_for(timeout=30_000)
        assert first.locator(".gv-title").inner_text().endswith("autograd graph of the first backward pass")
        assert page.locator('.gv-wt-graph-view[data-graph="replay"]').is_hidden()
        page.locator('.gv-wt-graph-choice[data-graph="replay"]').click()
        assert node(panel, "b0").is_visible()
        assert page.errors == []
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_log_of_a_negative_in_the_loss_is_said_to_come_from_the_loss(browser, from_loss, scheme):
    # plain torch: the model's output was finite at that step and the gradient arriving at it was not
    assert from_loss["step"] == LOG_AT and from_loss["output_finite"] and not from_loss["arrived_finite"]
    context, page = open_watch_page(browser, from_loss["path"], width=1400, height=1000, color_scheme=scheme)
    try:
        line = page.locator('.gv-wt-problem[data-kind="nonfinite"]')
        text = line.locator(".gv-wt-birth-text").inner_text()
        assert text.startswith(f"Replayed step {from_loss['step']}: it came from the loss, outside the model")
        assert "born in" not in text  # no op of the model is blamed
        page.locator(".gv-wt-banner").screenshot(
            path=str(OUTPUT / f"watch_forensics_log_loss_banner_{scheme}.png")
        )
        line.get_by_role("button", name="Show in graph").click()
        panel = _replay_panel(page)
        assert panel.locator(".gv-title").inner_text() == (
            f"Step {from_loss['step']}, replayed: the NaN/Inf came from the loss, outside the model"
        )
        assert panel.locator("svg.gv-svg g.node", has_text="☢").count() == 0  # no birth inside the model
        assert panel.locator(".gv-note").first.inner_text() == text  # said above the graph too
        # the replayed step's verdicts: every parameter plain torch saw go NaN is NaN/Inf in the graph
        panel.get_by_placeholder("Find a parameter, op or module").fill(from_loss["hit"][0])
        panel.get_by_placeholder("Find a parameter, op or module").press("Enter")
        assert "NaN" in panel.locator(".gv-inspector").inner_text()
        page.locator(".gradviz-watch").screenshot(
            path=str(OUTPUT / f"watch_forensics_log_loss_graph_{scheme}.png")
        )
        assert page.errors == []
    finally:
        context.close()


# --- live, in JupyterLab: the NaN appears while the loop runs ----------------------------------------


def _notebook(flag: pathlib.Path) -> dict:
    cells = [
        f"""\
import itertools, pathlib, sys
sys.path.insert(0, {str(API)!r})
import torch
import torch.nn.functional as F
import gradviz
from test_watch_forensics import gpt12_batches, gpt12_make

torch.set_num_threads(1)
model, opt = gpt12_make()
mon = gradviz.watch(model, opt, forensics=True)
mon
""",
        f"""\
flag = pathlib.Path({str(flag)!r})
batches = gpt12_batches()
for step in itertools.count():  # after the NaN step, the last batch again until the test has looked
    idx, keep = batches[min(step, len(batches) - 1)]
    opt.zero_grad()
    F.cross_entropy(model(idx[:, :-1], keep=keep).flatten(0, 1), idx[:, 1:].flatten()).backward()
    opt.step()
    if (step >= len(batches) and flag.exists()) or step > 20_000:
        break
mon.close()
print("trained", step, "steps")
""",
    ]
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    return {
        "cells": [{**cell, "source": source} for source in cells],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.mark.slow
def test_live_in_jupyterlab_the_birth_appears_while_the_loop_runs(browser, masked, tmp_path):
    from lab_server import jupyterlab, start_session
    from test_jupyterlab import _run_all

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    flag = tmp_path / "looked"
    (notebooks / "NB.ipynb").write_text(json.dumps(_notebook(flag)))
    with jupyterlab(notebooks, tmp_path / "jupyter") as url:
        start_session(url, "NB.ipynb")
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        page = context.new_page()
        try:
            page.goto(f"{url}/lab/tree/NB.ipynb?reset")
            _run_all(page)
            watch = page.locator(".jp-Notebook .gradviz-watch")
            watch.wait_for(timeout=120_000)
            birth = watch.locator(".gv-wt-birth-text")
            birth.wait_for(timeout=240_000)
            # the loop is still running: the widget was updated by the run, not by its end
            prompt = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-InputArea-prompt")
            assert re.search(r"\[\*\]", prompt.inner_text())
            assert not flag.exists()
            assert birth.inner_text().startswith(
                f"Replayed step {masked['step']}: the NaN was born in the forward of softmax at "
                f"{SOURCE}:{SOFTMAX_LINE}"
            )
            assert watch.locator(".gv-live").count() == 1  # still recording
            watch.locator(".gv-wt-birth").get_by_role("button", name="Show in graph").click()
            panel = watch.locator('.gv-wt-graph-view[data-graph="replay"] .gradviz-root')
            page.wait_for_function(
                "el => Number(el.dataset.draws) >= 1",
                arg=panel.element_handle(timeout=60_000),
                timeout=60_000,
            )
            assert panel.locator("svg.gv-svg g.node.gv-selected title").text_content() == "b0"
            watch.evaluate('el => el.scrollIntoView({ block: "start" })')
            page.screenshot(path=str(OUTPUT / "watch_forensics_jupyterlab_live.png"))
            flag.write_text("seen")
            page.locator(".jp-Notebook .jp-OutputArea-output", has_text="trained").wait_for(timeout=120_000)
            assert watch.locator(".gv-live").count() == 0  # closed: no longer recording
            assert watch.locator(".gv-wt-birth-text").inner_text() == birth.inner_text()
        finally:
            flag.write_text("done")  # never leave the kernel looping
            context.close()
