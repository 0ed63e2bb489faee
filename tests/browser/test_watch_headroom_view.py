"""Precision headroom in the watch view, in Chromium (issue 21 point 4, its view): a float16 model whose
gradient climbs toward 65504 gets a banner line ("head for float16 overflow") whose "Show it" selects the
parameter closest to overflow, and the headroom chart under the gradient norms draws that gradient's peak
over the steps against the float16 limit; a steady run has no such line.

The runs are tests/api/test_watch_headroom.py's (a loss scaled by ``growth ** step``, lr 0). Truth from
plain torch on a copy: the step each gradient first holds an Inf, and each gradient's largest magnitude at
every step (the chart's points must climb as they do, and stay under the limit line). Screenshots
(light, dark, and a 12-layer GPT in half precision): tests/_output/watch_headroom_*.png.
"""

from __future__ import annotations

import copy
import itertools
import pathlib
import sys

import pytest
import torch
import torch.nn.functional as F
from browser_helpers import OUTPUT, open_watch_page
from torch import nn

import gradviz
from gradviz._demos.gpt import TinyGPT

API = pathlib.Path(__file__).resolve().parents[1] / "api"
if str(API) not in sys.path:
    sys.path.insert(0, str(API))
from test_watch_headroom import _model, _run  # noqa: E402

pytestmark = pytest.mark.browser

GROWTH = 1.3


def _peaks(model: nn.Module, steps: int) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Plain torch: each gradient's largest magnitude per step, and the step it first held an Inf."""
    peaks: dict[str, list[float]] = {}
    first_inf: dict[str, int] = {}

    def look(step: int, m: nn.Module) -> None:
        for n, p in m.named_parameters():
            peaks.setdefault(n, []).append(float(p.grad.abs().max()))
            if n not in first_inf and not torch.isfinite(p.grad).all():
                first_inf[n] = step

    _run(model, steps, GROWTH, torch.float16, look)
    return peaks, first_inf


@pytest.fixture(scope="module")
def climbing(tmp_path_factory) -> dict:
    """The float16 run, watched up to the step before its first Inf (plain torch's), saved as a page."""
    model = _model(torch.float16)
    _, first_inf = _peaks(copy.deepcopy(model), 80)
    assert first_inf  # plain torch: it does overflow
    stop = min(first_inf.values())  # steps 0 .. stop-1 are finite
    peaks, _ = _peaks(copy.deepcopy(model), stop)
    with gradviz.watch(model) as mon:
        _run(model, stop, GROWTH, torch.float16, lambda s, m: mon.step())
    room = mon.headroom
    path = mon.save_html(tmp_path_factory.mktemp("headroom") / "climbing.html")
    return {"mon": mon, "room": room, "path": path, "peaks": peaks, "stop": stop}


@pytest.fixture(scope="module")
def steady(tmp_path_factory) -> dict:
    model = _model(torch.float16)
    with gradviz.watch(model) as mon:
        _run(model, 40, 1e-4 ** (1 / 40), torch.float16, lambda s, m: mon.step())
    return {"mon": mon, "path": mon.save_html(tmp_path_factory.mktemp("headroom") / "steady.html")}


def test_the_banner_says_which_gradient_heads_for_overflow_and_show_it_draws_its_headroom(browser, climbing):
    room, peaks, stop = climbing["room"], climbing["peaks"], climbing["stop"]
    flagged = sorted((h for h in room.values() if h.flagged), key=lambda h: h.bits)
    assert flagged  # flagged before plain torch's first Inf (tests/api/test_watch_headroom.py: 10 steps)
    assert all(h.flagged_at <= stop - 10 for h in flagged)
    first = flagged[0]
    names = list(climbing["mon"].history.names)
    for scheme in ("light", "dark"):
        context, page = open_watch_page(browser, climbing["path"], height=1000, color_scheme=scheme)
        try:
            line = page.locator('.gv-wt-problem[data-kind="headroom"]')
            assert line.count() == 1
            text = line.locator(".gv-wt-problem-text").text_content()
            assert "head" in text and "float16 overflow" in text and first.name in text
            assert f"flagged at step {first.flagged_at}" in text
            assert line.locator("strong").text_content() == "⚠ Heading for float16 overflow"
            box = page.locator(".gv-wt-headroom")
            assert box.is_hidden()  # nothing selected yet
            line.get_by_role("button", name="Show it").click()
            assert box.is_visible()
            column = names.index(first.name)
            assert box.get_attribute("data-column") == str(column)
            assert box.get_attribute("data-charted") == "true"
            # the heatmap's primary series is that parameter
            assert page.locator(f'.gv-chart-line[data-column="{column}"]').count() >= 2  # grad + headroom
            chart = box.locator(".gv-chart-svg")
            assert chart.locator(".gv-chart-limit").count() == 1
            assert chart.locator(".gv-chart-limit-label").text_content() == "float16 limit 65504"
            # its points: one per recorded step, climbing as plain torch's peaks climb, under the limit
            points = chart.locator(f'.gv-chart-point[data-column="{column}"]').evaluate_all(
                "els => els.map((el) => [Number(el.dataset.row), Number(el.getAttribute('cy'))])"
            )
            truth = peaks[first.name]
            assert [row for row, _ in points] == list(range(stop))
            assert all(b > a for a, b in itertools.pairwise(truth))  # plain torch climbs
            ys = [y for _, y in points]
            assert all(b < a for a, b in itertools.pairwise(ys))  # drawn climbing (y grows down)
            limit_y = float(chart.locator(".gv-chart-limit").get_attribute("y1"))
            assert ys[-1] > limit_y  # still under 65504
            said = box.locator(".gv-wt-headroom-text").text_content()
            assert said.startswith(first.text())  # Python's words about it
            assert not page.errors, page.errors
            page.locator(".gv-wt-banner").screenshot(path=str(OUTPUT / f"watch_headroom_banner_{scheme}.png"))
            page.locator(".gradviz-watch").screenshot(path=str(OUTPUT / f"watch_headroom_{scheme}.png"))
        finally:
            context.close()


def test_a_steady_run_has_no_headroom_line(browser, steady):
    room = steady["mon"].headroom
    assert room and not any(h.flagged for h in room.values())
    context, page = open_watch_page(browser, steady["path"], height=1000, color_scheme="light")
    try:
        page.locator(".gv-wt-title, .gv-title").first.wait_for()
        assert page.locator('.gv-wt-problem[data-kind="headroom"]').count() == 0
        # a half-precision parameter still shows its headroom when selected (with its underflow)
        page.locator(".gv-hm-label").filter(has_text="weight").first.click()
        box = page.locator(".gv-wt-headroom")
        assert box.is_visible() and box.get_attribute("data-charted") == "true"
        assert "below the smallest normal float16" in box.locator(".gv-wt-headroom-text").text_content()
        assert not page.errors, page.errors
    finally:
        context.close()


def test_gpt12_in_half_precision_looks_right(browser, tmp_path):
    """The look at GPT-12 scale: 148 float16 parameters, a loss scaled up each step (lr 0)."""
    torch.manual_seed(0)
    model = TinyGPT(vocab=16, d=32, n_head=2, n_layer=12, block_size=16, use_reentrant=False).half()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    idx = torch.randint(0, 16, (4, 16), generator=torch.Generator().manual_seed(3))
    with gradviz.watch(model, opt) as mon:
        for step in range(24):
            opt.zero_grad()
            loss = F.cross_entropy(model(idx).float().flatten(0, 1), idx.flatten())
            (loss * 2.0 ** (step * 0.6)).half().backward()
            opt.step()
    flagged = [h for h in mon.headroom.values() if h.flagged]
    path = mon.save_html(tmp_path / "gpt12.html")
    for scheme in ("light", "dark"):
        context, page = open_watch_page(browser, path, width=1400, height=1000, color_scheme=scheme)
        try:
            line = page.locator('.gv-wt-problem[data-kind="headroom"]')
            assert line.count() == (1 if flagged else 0)
            if flagged:
                line.get_by_role("button", name="Show it").click()
                assert page.locator(".gv-wt-headroom").is_visible()
            assert not page.errors, page.errors
            page.locator(".gradviz-watch").screenshot(path=str(OUTPUT / f"watch_headroom_gpt12_{scheme}.png"))
        finally:
            context.close()
    assert flagged  # the climb is flagged at this scale too
