"""The watch view at real scale and on sick runs, in Chromium: a 12-layer GPT's 148 tensors as labelled rows
grouped by module; a NaN run and a dead-ReLU run whose pages never say "all learn" where plain torch says
otherwise, and whose inspector never shows a healthy badge at a bad step; the update ratio drawn only at the
steps it was measured; the dark themes readable. Truth comes from plain torch replays of the same seeded
runs (watch_truth.py). Leaves screenshots in tests/_output/ and the README picture of the watch view."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from browser_helpers import OUTPUT, node, open_watch_page, picture, wait_for_draws
from torch import nn
from torch.nn import functional as F
from watch_truth import all_learn, contrast, grad_state, low_contrast, replay

import gradviz
import gradviz.demos as demos
from gradviz._demos.gpt import TinyGPT
from gradviz._demos.training import dead_relu_run, nan_run
from gradviz.records import GradState

pytestmark = pytest.mark.browser

README_IMAGE = picture("watch_view.png")
ALL_LEARN = re.compile(r"\ball (\d+ )?learn")
OK_GREEN = (46, 125, 50)  # #2e7d32: the "learns" badge
# Text the watch view writes, and must stay readable (WCAG AA: 4.5:1) in every theme.
TEXT = [
    ".gv-title",
    ".gv-wt-step",
    ".gv-wt-run",
    ".gv-hm-label",
    ".gv-wt-tab",
    ".gv-slider-label",
    ".gv-wt-summary",
    ".gv-legend-item",
    ".gv-chart-title",
    ".gv-chart-series",
    ".gv-chart-tick",
]


def set_row(page, row: int) -> None:
    page.locator(".gv-slider").fill(str(row))


# --- a 12-layer GPT: 148 tensors ------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpt12(tmp_path_factory) -> dict:
    """Six AdamW steps of a 12-layer GPT (d=32) with a frozen embedding; plain torch gives the truth."""

    def make():
        torch.manual_seed(0)
        model = TinyGPT(vocab=16, d=32, n_head=2, n_layer=12, block_size=16, use_reentrant=False)
        model.tok.weight.requires_grad_(False)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
        return model, opt

    def train(model, opt, on_step=None):
        torch.manual_seed(1)
        for _ in range(6):
            idx = torch.randint(0, 16, (8, 16))
            loss = F.cross_entropy(model(idx).flatten(0, 1), idx.flatten())
            opt.zero_grad()
            loss.backward()
            if on_step:
                on_step(model)
            opt.step()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, opt = make()
        with gradviz.watch(model, optimizer=opt) as mon:
            train(model, opt)
        plain, plain_opt = make()
        truth: list[list[int]] = []
        train(plain, plain_opt, lambda m: truth.append([grad_state(p) for p in m.parameters()]))
    finally:
        torch.set_num_threads(threads)
    path = mon.save_html(tmp_path_factory.mktemp("gpt") / "gpt12.html")
    names = [n for n, _ in plain.named_parameters()]
    return {"path": path, "monitor": mon, "truth": np.array(truth), "names": names}


def test_gpt12_rows_are_labelled_grouped_by_module_and_fit_the_window(browser, gpt12):
    mon, truth, names = gpt12["monitor"], gpt12["truth"], gpt12["names"]
    assert len(names) == 148 and mon.history.names == names
    np.testing.assert_array_equal(mon.history.state, truth)  # what watch recorded is what torch gives
    frozen = [n for n, p in zip(names, mon.history.state[-1], strict=True) if p == GradState.none]
    assert frozen == ["tok.weight"]
    context, page = open_watch_page(browser, gpt12["path"])
    try:
        root = page.locator(".gradviz-watch")
        bands = page.locator(".gv-hm-band").evaluate_all("els => els.map((e) => e.dataset.band)")
        assert bands == ["blocks", *[f"blocks.{i}" for i in range(12)]]
        # the first view: the top level open, each block one row that shows its worst cell
        labels = page.locator(".gv-hm-label").evaluate_all("els => els.map((e) => e.title)")
        assert labels == ["tok.weight", "ln_f.weight", "ln_f.bias", "head.weight"]
        assert page.locator(".gv-wt-step").inner_text().endswith("step 5: 147 learn, 1 frozen")
        page.locator('.gv-hm-band[data-band="blocks.5"]').click()
        block = [n for n in names if n.startswith("blocks.5.")]
        shown = page.locator(".gv-hm-label").evaluate_all("els => els.map((e) => [e.title, e.textContent])")
        assert [title for title, _ in shown if title.startswith("blocks.5.")] == [
            n for n in block if not n.startswith("blocks.5.mlp.")
        ]
        assert all(text == title for title, text in shown)  # full names, none clipped at this width
        page.locator('.gv-hm-band[data-band="blocks.5.mlp"]').click()
        label = page.locator('.gv-hm-label[title="blocks.5.mlp.2.bias"]')
        box = label.bounding_box()
        size = label.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
        assert size >= 9 and box["height"] >= 14, (size, box)
        assert page.locator(".gv-hm-label").count() == 4 + len(block)
        # heatmap, charts and graph fit a 1280x900 window: in their tabs, nothing below 900 px
        for tab in ("Heatmap & charts", "Graph"):
            page.get_by_role("tab", name=tab).click()
            bottom = root.evaluate("el => el.getBoundingClientRect().bottom + window.scrollY")
            width = root.evaluate("el => el.getBoundingClientRect().width")
            assert bottom <= 900 and width <= 1280, (tab, bottom, width)
        page.get_by_role("tab", name="Heatmap & charts").click()
        OUTPUT.mkdir(exist_ok=True)
        root.screenshot(path=str(OUTPUT / "watch_gpt12.png"))
        assert page.errors == []
    finally:
        context.close()


# --- sick runs: NaN and dead ReLUs ---------------------------------------------------------------


@pytest.fixture(scope="module", params=["nan_from_log", "dead_relus"])
def sick(request, tmp_path_factory) -> dict:
    demo = getattr(demos, request.param)()
    states, norms = replay({"nan_from_log": nan_run, "dead_relus": dead_relu_run}[request.param]())
    path = demo.monitor.save_html(tmp_path_factory.mktemp(request.param) / f"{request.param}.html")
    return {"demo": demo, "states": states, "norms": norms, "path": path}


def test_sick_pages_never_say_all_learn_where_torch_disagrees(browser, sick):
    demo, states, norms = sick["demo"], sick["states"], sick["norms"]
    h = demo.history
    np.testing.assert_array_equal(h.state, states)
    assert not all_learn(states[-1], norms[-1])
    context, page = open_watch_page(browser, sick["path"])
    try:
        whole = page.locator(".gradviz-watch").inner_text()
        assert not ALL_LEARN.search(whole), whole[:400]  # the first view: the latest step, the whole run
        assert not ALL_LEARN.search(page.locator(".gv-wt-run").inner_text())
        bad = int(np.argmax(~((states == GradState.finite) & (norms >= 1e-7)).all(axis=1)))
        for row in sorted({0, max(0, bad - 1), bad, len(h) // 2, len(h) - 2}):
            set_row(page, row)
            text = page.locator(".gv-wt-step").inner_text()
            assert text.startswith(f"step {h.steps[row]}:"), text
            says = bool(ALL_LEARN.search(text))
            assert says == all_learn(states[row], norms[row]), (row, text)
        assert page.errors == []
    finally:
        context.close()


def test_the_inspector_follows_the_step_never_a_healthy_badge_at_a_bad_step(browser, sick):
    demo, states = sick["demo"], sick["states"]
    h = demo.history
    name = h.names[0]  # the first layer's weight: NaN in one run, dead in the other
    column = h.index(name)
    bad = int(np.argmax(states[:, column] != GradState.finite))
    badges = {int(GradState.nonfinite): "NaN/Inf", int(GradState.zero): "zero gradient"}
    expected = badges[int(states[bad, column])]
    node_id = demo.monitor.graph[0]["verdicts"][column]["node"]
    context, page = open_watch_page(browser, sick["path"])
    try:
        page.get_by_role("tab", name="Graph").click()
        wait_for_draws(page.locator(".gradviz-root"), 1)
        node(page, node_id).click()
        inspector = page.locator(".gv-inspector")
        assert inspector.locator(".gv-name").inner_text() == name
        assert inspector.locator(".gv-verdict").count() == 0  # no verdict of one pass ("ok" at the first)
        badge = inspector.locator(".gv-wt-badge")
        for row, want in [(0, "learns"), (bad, expected), (len(h) - 1, expected)]:
            set_row(page, row)
            assert badge.inner_text() == want, (row, badge.inner_text())
            color = badge.evaluate("el => getComputedStyle(el).backgroundColor")
            assert (color == "rgb(46, 125, 50)") == (want == "learns"), (row, color)
        set_row(page, bad)
        assert inspector.locator(".gv-badge", has_text=re.compile(r"^ok$")).count() == 0
        assert f"At step {h.steps[bad]}" in inspector.inner_text()
        if demo.name == "dead_relus":
            page.get_by_role("tab", name="Heatmap & charts").click()
            page.locator(f'.gv-hm-label[title="{name}"]').click()
            page.locator(".gradviz-watch").screenshot(path=str(README_IMAGE))
        assert page.errors == []
    finally:
        context.close()


# --- the update ratio ----------------------------------------------------------------------------


def test_update_ratio_is_drawn_only_at_the_steps_it_was_measured(browser, tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    measured_truth = {}
    with gradviz.watch(model, optimizer=opt, weights_every=4) as mon:
        for step in range(20):
            before = model[0].weight.detach().clone()
            loss = F.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            change = (model[0].weight.detach() - before).norm() / before.norm()  # plain torch
            measured_truth[step] = float(change)
    h = mon.history
    column = h.index("0.weight")
    measured = np.flatnonzero(np.isfinite(h.update_ratio[:, column])).tolist()
    assert measured == [0, 4, 8, 12, 16]
    for row in measured:
        assert h.update_ratio[row, column] == pytest.approx(measured_truth[int(h.steps[row])], rel=1e-4)
    context, page = open_watch_page(browser, mon.save_html(tmp_path / "ratio.html"))
    try:
        page.locator('.gv-hm-label[title="0.weight"]').click()
        chart = page.locator(".gv-chart").filter(has_text="Update ratio")  # by title: charts come and go
        points = chart.locator(f'.gv-chart-point[data-column="{column}"]')
        assert points.evaluate_all("els => els.map((e) => Number(e.dataset.row))") == measured
        path = chart.locator(f'.gv-chart-line[data-column="{column}"]').get_attribute("d")
        assert "L" not in path and path.count("M") == len(measured)  # no line across unmeasured steps
        median = chart.locator('.gv-chart-line[data-series="median"]').get_attribute("d")
        assert "L" not in median
        frame = chart.locator(".gv-chart-frame").bounding_box()
        for row, says in [(2, "not measured"), (4, f"{h.update_ratio[4, column]:.3g}"[:4])]:
            x = frame["x"] + (row + 0.5) / len(h) * frame["width"]
            page.mouse.move(x, frame["y"] + frame["height"] / 2)
            tip = chart.locator(".gv-tooltip").inner_text()
            assert f"step {row}" in tip and says in tip, (row, tip)
        assert page.errors == []
    finally:
        context.close()


# --- themes ----------------------------------------------------------------------------------------


def test_standalone_page_follows_the_system_dark_scheme_and_stays_readable(browser, sick, gpt12):
    # both sick runs: a banner line per problem, and (60 and 200 steps, weights_every=100: 1 and 2 weight
    # steps) the ratio note in place of the chart
    h = sick["demo"].history
    assert (~np.isnan(h.update_ratio).all(axis=1)).sum() < 3
    banner = [
        ".gv-wt-problem strong",
        ".gv-wt-problem-text",
        ".gv-wt-ratio-note strong",
        ".gv-wt-ratio-note span",
    ]
    if h.first_nonfinite:
        banner.append(".gv-first-nan-label")
    pages = [(sick["demo"].name, sick["path"], banner), ("gpt12", gpt12["path"], [".gv-hm-band"])]
    for name, path, extra in pages:
        for scheme in ("light", "dark"):
            context, page = open_watch_page(browser, path, color_scheme=scheme)
            try:
                root = page.locator(".gradviz-watch")
                background = root.evaluate("el => getComputedStyle(el).backgroundColor")
                rgb = [int(v) for v in re.findall(r"\d+", background)[:3]]
                dark = contrast(rgb, (0, 0, 0)) < contrast(rgb, (255, 255, 255))
                assert dark == (scheme == "dark"), background
                assert low_contrast(root, TEXT + extra) == [], (name, scheme)
                OUTPUT.mkdir(exist_ok=True)
                root.screenshot(path=str(OUTPUT / f"watch_{name}_{scheme}.png"))
            finally:
                context.close()


DARK_CELLS = [
    """\
import torch
import gradviz.demos

torch.set_num_threads(1)
d = gradviz.demos.nan_from_log()
d.monitor
""",
]


@pytest.mark.slow
@pytest.mark.parametrize("theme", ["JupyterLab Dark", "JupyterLab Dark High Contrast"])
def test_watch_view_in_jupyterlab_dark_is_readable(browser, tmp_path, theme):
    from lab_server import jupyterlab, start_session
    from test_jupyterlab import _run_all

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    notebook = {
        "cells": [{**cell, "source": source} for source in DARK_CELLS],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (notebooks / "Dark.ipynb").write_text(json.dumps(notebook))
    themes = tmp_path / "jupyter" / "settings" / "@jupyterlab" / "apputils-extension"
    themes.mkdir(parents=True)
    (themes / "themes.jupyterlab-settings").write_text(json.dumps({"theme": theme}))
    with jupyterlab(notebooks, tmp_path / "jupyter") as url:
        start_session(url, "Dark.ipynb")
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        try:
            page.goto(f"{url}/lab/tree/Dark.ipynb?reset")
            page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=60_000)
            _run_all(page)
            root = page.locator(".jp-Notebook .gradviz-watch")
            root.wait_for(timeout=120_000)
            panel = root.evaluate("el => getComputedStyle(el).backgroundColor")
            rgb = [int(v) for v in re.findall(r"\d+", panel)[:3]]
            assert contrast(rgb, (0, 0, 0)) < 3, panel  # the theme's dark layout colour, not a white box
            problems = [".gv-wt-problem strong", ".gv-wt-problem-text", ".gv-first-nan-label"]
            assert low_contrast(root, [*TEXT, *problems]) == []
            root.get_by_role("tab", name="Graph").click()
            wait_for_draws(root.locator(".gradviz-root"), 1, timeout=60_000)
            root.scroll_into_view_if_needed()
            OUTPUT.mkdir(exist_ok=True)
            stem = "watch_" + theme.lower().replace(" ", "_")
            page.screenshot(path=str(OUTPUT / f"{stem}_graph.png"))
            root.get_by_role("tab", name="Heatmap & charts").click()
            page.screenshot(path=str(OUTPUT / f"{stem}.png"))
        finally:
            context.close()
