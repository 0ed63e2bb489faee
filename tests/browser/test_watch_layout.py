"""The watch view's frame around the data, in Chromium: the update-ratio chart for short runs, the width of
the label column, and the Graph tab's key.

- With the default ``weights_every=100``, a run of 100 steps or fewer measures the weights once: in the
  chart's place the view says so and what to pass, instead of one dot under a title. With
  ``weights_every=1`` the chart is drawn.
- The label column is as wide as its longest label (at least what the step slider needs, at most 260 px):
  short names leave the plots their width; every label shows its whole name; the heatmap, the slider and
  the charts start at the same x.
- The Graph tab's blue node is the model's output (watch sees the model's forward, never the loss): the key
  and the inspector call it that, and its op is the one plain torch gives the model's output.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from browser_helpers import OUTPUT, open_watch_page, wait_for_draws
from torch import nn
from torch.nn import functional as F

import gradviz
from gradviz._demos.gpt import TinyGPT

pytestmark = pytest.mark.browser

MIN_GUTTER, MAX_GUTTER = 200, 260  # js/src/watch/gutter.js, cells.js


def train(model, opt, steps: int, **watch_options):
    torch.manual_seed(1)
    x, y = torch.randn(64, 8), torch.randn(64, 1)
    with gradviz.watch(model, optimizer=opt, **watch_options) as mon:
        for _ in range(steps):
            loss = F.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return mon


def mlp():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    return model, torch.optim.SGD(model.parameters(), lr=0.05)


def lefts(page) -> dict[str, float]:
    """Left x of the heatmap's cells, the slider, and each chart's plot frame."""
    return page.evaluate(
        """() => ({
            heatmap: document.querySelector(".gv-hm-canvas").getBoundingClientRect().left,
            slider: document.querySelector(".gv-slider").getBoundingClientRect().left,
            charts: [...document.querySelectorAll(".gv-chart:not([hidden]) .gv-chart-frame")]
                .map((r) => r.getBoundingClientRect().left),
        })"""
    )


@pytest.mark.parametrize("steps", [60, 100, 200])
def test_a_short_run_with_the_default_weights_every_says_why_there_is_no_ratio_line(browser, tmp_path, steps):
    model, opt = mlp()
    mon = train(model, opt, steps)
    ratio = mon.history.update_ratio
    rows = [r for r in range(len(ratio)) if not np.isnan(ratio[r]).all()]
    assert rows == list(range(0, steps, 100))  # weights_every=100: a weight step every 100 steps
    medians = "; ".join(f"step {r}: median {js_number(float(np.median(ratio[r])))}" for r in rows)
    context, page = open_watch_page(browser, mon.save_html(tmp_path / "short.html"))
    try:
        charts = page.locator(".gv-chart")
        assert charts.nth(0).is_visible() and charts.nth(1).is_hidden()  # gradient norm drawn, ratio not
        note = page.locator(".gv-wt-ratio-note")
        assert note.is_visible()
        assert note.inner_text().startswith("Update ratio ‖Δw‖/‖w‖")
        text = note.locator("span").inner_text()
        assert text.startswith(
            f"measured at {len(rows)} of {steps} recorded steps ({medians}): too few to draw a line."
        )
        assert "once every 100 recorded steps (weights_every=100)" in text
        assert "pass weights_every=1 to gradviz.watch" in text
        box = note.bounding_box()
        assert box["height"] < 60  # a sentence, not 100 px of an empty chart
        assert page.errors == []
    finally:
        context.close()


def js_number(x: float) -> str:
    """A ratio as js/src/format.js formatNumber writes one in [1e-3, 1e5): 4 significant digits."""
    assert 1e-3 <= x < 1e5
    return repr(float(f"{x:.4g}")).removesuffix(".0")


def test_with_weights_every_1_the_ratio_chart_is_drawn(browser, tmp_path):
    model, opt = mlp()
    mon = train(model, opt, 30, weights_every=1)
    context, page = open_watch_page(browser, mon.save_html(tmp_path / "every.html"))
    try:
        assert page.locator(".gv-wt-ratio-note").is_hidden()
        ratio = page.locator(".gv-chart").filter(has_text="Update ratio")  # by title: charts come and go
        assert ratio.is_visible()
        median = ratio.locator('.gv-chart-line[data-series="median"]').get_attribute("d")
        assert median.count("L") == 29  # one line through the 30 measured steps
    finally:
        context.close()


def test_the_label_column_fits_short_names_and_lines_up_every_plot(browser, tmp_path):
    model, opt = mlp()
    mon = train(model, opt, 20)
    context, page = open_watch_page(browser, mon.save_html(tmp_path / "narrow.html"))
    try:
        gutter = page.locator(".gv-hm-gutter").bounding_box()["width"]
        assert gutter == MIN_GUTTER  # "0.weight": the slider's label and button set the width
        x = lefts(page)
        assert x["slider"] == x["heatmap"] and all(abs(c - x["heatmap"]) < 1 for c in x["charts"]), x
        assert len(x["charts"]) == 1
        latest = page.get_by_role("button", name="Latest").bounding_box()
        label = page.locator(".gv-slider-label").bounding_box()
        assert (
            label["x"] >= page.locator(".gv-slider-row").bounding_box()["x"]
        )  # the slider's gutter holds both
        assert latest["x"] + latest["width"] <= x["slider"]
        OUTPUT.mkdir(exist_ok=True)
        page.locator(".gradviz-watch").screenshot(path=str(OUTPUT / "watch_short_names.png"))
    finally:
        context.close()


@pytest.fixture(scope="module")
def gpt(tmp_path_factory) -> dict:
    torch.manual_seed(0)
    model = TinyGPT(vocab=16, d=32, n_head=2, n_layer=12, block_size=16, use_reentrant=False)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(1)
    idx = torch.randint(0, 16, (4, 16))
    with gradviz.watch(model, optimizer=opt) as mon:
        for _ in range(3):
            loss = F.cross_entropy(model(idx).flatten(0, 1), idx.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
    output_op = type(model(idx).grad_fn).__name__  # what plain torch says made the model's output
    return {"path": mon.save_html(tmp_path_factory.mktemp("gpt") / "gpt.html"), "output_op": output_op}


def test_gpt_names_show_whole_and_every_plot_lines_up(browser, gpt):
    context, page = open_watch_page(browser, gpt["path"])
    try:
        for band in [f"blocks.{i}" for i in range(12)]:
            page.locator(f'.gv-hm-band[data-band="{band}"]').click()
        page.locator('.gv-hm-band[data-band="blocks.11.mlp"]').click()
        labels = page.locator(".gv-hm-label, .gv-hm-band")
        clipped = labels.evaluate_all(
            """els => els.filter((e) => e.scrollWidth > e.clientWidth || e.textContent.includes("…"))
                .map((e) => e.dataset.band ?? e.title)"""
        )
        assert clipped == []
        names = page.locator(".gv-hm-label").evaluate_all(
            "els => els.filter((e) => e.textContent !== e.title).length"
        )
        assert names == 0  # whole names: "blocks.11.mlp.2.weight" at two band levels fits
        gutter = page.locator(".gv-hm-gutter").bounding_box()["width"]
        assert MIN_GUTTER <= gutter <= MAX_GUTTER
        x = lefts(page)
        assert x["slider"] == x["heatmap"] and all(abs(c - x["heatmap"]) < 1 for c in x["charts"]), x
    finally:
        context.close()


def test_the_graph_key_calls_the_blue_node_the_models_output(browser, gpt):
    context, page = open_watch_page(browser, gpt["path"])
    try:
        page.get_by_role("tab", name="Graph").click()
        wait_for_draws(page.locator(".gradviz-root"), 1)
        key = page.locator(".gv-wt-graph .gv-legend").inner_text()
        assert "the model's output" in key
        assert "loss" not in key.replace("the loss is not drawn", "")
        root = page.locator("svg.gv-svg g.node.gv-loss")
        assert root.count() == 1
        assert root.locator("text").all_text_contents() == [gpt["output_op"]]
        root.click()
        section = page.locator(".gv-watch-inspect")
        assert section.inner_text().startswith("The model's output")
        assert gpt["output_op"] in section.inner_text()
        assert page.errors == []
    finally:
        context.close()
