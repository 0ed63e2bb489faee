"""The watch view's banner, in Chromium: one line per kind of problem a run recorded, saying what happened
to which parameters and when, each with a "Show it" that marks those rows in the heatmap.

Truth comes from plain torch: each run is trained again on a fresh seeded copy with no gradviz at all, and
the state of every ``.grad`` (None, all zero, finite, NaN/Inf), its norm, and whether ``step()`` changed
each parameter are read at every step. The expected sentences are written from that truth.

- a 12-layer GPT (148 parameter tensors) whose loss goes NaN at step 60: "all 148 at once";
- the same GPT where one parameter's gradient goes NaN first (a hand-written L2 distance, sqrt at 0) and
  the optimizer spreads it to every other weight one step later: "tok.weight first; 147 others followed";
- the dead-ReLU demo (exploding, then exactly zero, then vanishing gradients);
- a small run with a module never used (no gradient ever), one used only for the first steps (its
  gradient lost), and one the optimizer does not hold (weights never change).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from browser_helpers import OUTPUT, open_watch_page
from torch import nn
from torch.nn import functional as F
from watch_truth import grad_state, replay

import gradviz
from gradviz._demos.gpt import TinyGPT
from gradviz._demos.training import dead_relu_run
from gradviz.records import GradState

pytestmark = pytest.mark.browser

NAN_AT = 60  # the step the GPT runs go wrong
GPT_STEPS = 64
NAN_PURPLE = "#7b1fa2"  # js/src/watch/colors.js SPECIAL.nonfinite: the NaN/Inf line's marks


def gpt_train(kind: str, model: nn.Module, opt: torch.optim.Optimizer, on_step=None) -> None:
    """``kind="once"``: a temperature switched to 0 at step NAN_AT (every gradient NaN at once).
    ``kind="first"``: from step NAN_AT, an L2 distance to the weights at that step, written by hand as
    ``sqrt(sum(d**2))``: its gradient at d = 0 is NaN for tok.weight alone; AdamW writes that NaN into
    tok.weight, and from the next step on every gradient is NaN."""
    torch.manual_seed(1)
    anchor = None
    for step in range(GPT_STEPS):
        idx = torch.randint(0, 16, (8, 16))
        logits = model(idx)
        if kind == "once":
            logits = logits / (1.0 if step < NAN_AT else 0.0)
        loss = F.cross_entropy(logits.flatten(0, 1), idx.flatten())
        if kind == "first" and step >= NAN_AT:
            if anchor is None:
                anchor = model.tok.weight.detach().clone()
            loss = loss + 1e-3 * (model.tok.weight - anchor).pow(2).sum().sqrt()
        opt.zero_grad()
        loss.backward()
        if on_step:
            on_step(model)
        opt.step()


def gpt_make():
    torch.manual_seed(0)
    model = TinyGPT(vocab=16, d=32, n_head=2, n_layer=12, block_size=16, use_reentrant=False)
    return model, torch.optim.AdamW(model.parameters(), lr=3e-3)


def one_thread(fn):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=["once", "first"])
def gpt_nan(request, tmp_path_factory) -> dict:
    kind = request.param

    def run():
        model, opt = gpt_make()
        with gradviz.watch(model, optimizer=opt) as mon:
            gpt_train(kind, model, opt)
        plain, plain_opt = gpt_make()
        truth: list[list[int]] = []
        gpt_train(kind, plain, plain_opt, lambda m: truth.append([grad_state(p) for p in m.parameters()]))
        return mon, np.array(truth), [n for n, _ in plain.named_parameters()]

    mon, truth, names = one_thread(run)
    path = mon.save_html(tmp_path_factory.mktemp("gpt") / f"gpt_nan_{kind}.html")
    return {"kind": kind, "path": path, "truth": truth, "names": names}


def banner_lines(page) -> dict[str, str]:
    """{kind: "Title — sentence"} of every banner line."""
    return page.locator(".gv-wt-problem").evaluate_all(
        """els => Object.fromEntries(els.map((el) => {
            const text = (selector) => el.querySelector(selector).textContent;
            return [el.dataset.kind, `${text("strong")} — ${text(".gv-wt-problem-text")}`];
        }))"""
    )


def first_rows(mask: np.ndarray) -> np.ndarray:
    """Per column: the first row where ``mask`` holds (-1: never)."""
    return np.where(mask.any(axis=0), mask.argmax(axis=0), -1)


def test_gpt_nan_says_whether_all_went_nan_at_once_or_one_first(browser, gpt_nan):
    truth, names = gpt_nan["truth"], gpt_nan["names"]
    assert len(names) == 148
    first = first_rows(truth == GradState.nonfinite)
    assert (first >= 0).all()  # every parameter went NaN/Inf, as plain torch sees it
    start = int(first.min())
    firsts = [n for n, f in zip(names, first, strict=True) if f == start]
    later = sorted({int(f) for f in first if f != start})
    if gpt_nan["kind"] == "once":
        assert len(firsts) == 148 and later == []
        expected = f"At step {start}, all 148 parameters went NaN/Inf at once."
    else:
        assert firsts == ["tok.weight"] and later == [start + 1]
        expected = f"tok.weight went NaN/Inf first, at step {start}; 147 others followed at step {start + 1}."
    assert start == NAN_AT
    context, page = open_watch_page(browser, gpt_nan["path"])
    try:
        lines = banner_lines(page)
        assert lines["nonfinite"] == f"NaN/Inf gradients — {expected}"
        assert next(iter(lines)) == "nonfinite"  # the worst first
        # the charts' mark names the one that started it, never one of many that went at once
        who = f"{len(firsts)} parameters at once" if len(firsts) > 1 else firsts[0]
        mark = page.locator(".gv-chart .gv-first-nan-label").first.text_content()
        assert mark == f"first NaN/Inf · step {start} · {who}"
        line = page.locator('.gv-wt-problem[data-kind="nonfinite"]')
        line.get_by_role("button", name="Show it").click()
        # the step where it started, its first parameter plotted, and every row that went NaN marked:
        # the four top-level parameters and the twelve closed block bands
        assert page.locator(".gv-slider-label").inner_text() == f"step {start}"
        selected = page.locator(".gv-hm-label.gv-selected").evaluate_all("els => els.map((e) => e.title)")
        assert selected == [firsts[0]]
        marked = page.locator(".gv-hm-gutter .gv-marked").evaluate_all(
            "els => els.map((e) => e.dataset.band ?? e.title)"
        )
        assert sorted(marked) == sorted(
            ["tok.weight", "ln_f.weight", "ln_f.bias", "head.weight", *[f"blocks.{i}" for i in range(12)]]
        )
        assert page.locator(".gv-hm-canvas").get_attribute("data-marked") == "16"
        assert line.get_by_role("button", name="Show it").get_attribute("aria-pressed") == "true"
        # the mark is drawn in the line's colour at the left edge of a marked row
        box = page.locator('.gv-hm-label[title="head.weight"]').bounding_box()
        edge = page.locator(".gv-hm-canvas").evaluate(
            """(canvas, y) => {
                const box = canvas.getBoundingClientRect();
                const scale = canvas.width / box.width;
                const row = Math.floor((y - box.top) * scale);
                const [r, g, b] = canvas.getContext("2d").getImageData(1, row, 1, 1).data;
                return "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
            }""",
            box["y"] + box["height"] / 2,
        )
        assert edge == NAN_PURPLE
        # a click on another row is the user's own choice: the marks go
        page.locator('.gv-hm-label[title="ln_f.bias"]').click()
        assert page.locator(".gv-hm-gutter .gv-marked").count() == 0
        assert page.errors == []
        OUTPUT.mkdir(exist_ok=True)
        page.locator(".gradviz-watch").screenshot(
            path=str(OUTPUT / f"watch_banner_gpt_{gpt_nan['kind']}.png")
        )
    finally:
        context.close()


# --- the dead-ReLU demo: exploding, then zero, then vanishing ---------------------------------------


def running_median_explosions(states: np.ndarray, norms: np.ndarray, explode: float = 10.0) -> np.ndarray:
    """Per column, the first row whose finite norm is above ``explode`` x the median of the (up to) 50
    finite positive norms before it, once there are 5 of them (the charts' ▲ rule; -1: never)."""
    out = np.full(norms.shape[1], -1)
    for c in range(norms.shape[1]):
        window: list[float] = []
        for row in range(norms.shape[0]):
            value = float(np.float32(norms[row, c]))
            if states[row, c] != GradState.finite or not value > 0 or not np.isfinite(value):
                continue
            if len(window) >= 5 and value > explode * float(np.median(window)):
                out[c] = row
                break
            window = [*window, value][-50:]
    return out


def listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def onset(names: list[str], first: np.ndarray, total: int, past: tuple[str, str]) -> str:
    """The sentence for parameters first affected at rows ``first`` (-1: never), as the banner words it
    for these runs: everyone at one step, or a first group and the others at one later step."""
    hit = [(int(f), n) for n, f in zip(names, first, strict=True) if f >= 0]
    steps = sorted({f for f, _ in hit})
    group = [n for f, n in hit if f == steps[0]]
    if len(steps) == 1:
        if len(group) == 1:
            return f"{group[0]} {past[0]} at step {steps[0]}."
        return f"At step {steps[0]}, {len(group)} of {total} parameters {past[1]} at once: {listed(group)}."
    assert len(steps) == 2, "these runs: a first group, then the others at one step"
    others = [n for f, n in hit if f == steps[1]]
    head = group[0] if len(group) == 1 else f"{len(group)} parameters"
    whose = "" if len(group) == 1 else f" ({listed(group)})"
    first = f"{head} {past[len(group) > 1]} first, at step {steps[0]}{whose}"
    return f"{first}; {len(others)} others followed at step {steps[1]}: {listed(others)}."


@pytest.fixture(scope="module")
def dead(tmp_path_factory) -> dict:
    import gradviz.demos as demos

    demo = one_thread(demos.dead_relus)
    states, norms = replay(dead_relu_run())
    path = demo.monitor.save_html(tmp_path_factory.mktemp("dead") / "dead.html")
    return {"path": path, "states": states, "norms": norms, "names": demo.history.names}


def test_dead_relus_get_exploding_zero_and_vanishing_lines(browser, dead):
    states, norms, names = dead["states"], dead["norms"], dead["names"]
    total = len(names)
    zero = first_rows(states == GradState.zero)
    vanish = first_rows((states == GradState.finite) & (norms.astype(np.float32) < np.float32(1e-7)))
    boom = running_median_explosions(states, norms)
    assert (zero >= 0).sum() == 5 and (vanish >= 0).sum() == 1 and (boom >= 0).any()  # a sick run
    context, page = open_watch_page(browser, dead["path"])
    try:
        lines = banner_lines(page)
        assert list(lines) == ["explode", "zero", "vanishing"]  # and no line for a kind torch did not show
        assert lines["zero"] == "Zero gradients — " + onset(
            names, zero, total, ("got an exactly zero gradient", "got exactly zero gradients")
        )
        assert lines["vanishing"] == "Vanishing gradients (norm < 1e-7) — " + onset(
            names, vanish, total, ("vanished", "vanished")
        )
        assert lines["explode"] == "Exploding gradients (a norm above 10× its running median) — " + onset(
            names, boom, total, ("exploded", "exploded")
        )
        # the run's line: no second pair of parentheses after the threshold's
        assert "(first at step" not in page.locator(".gv-wt-run").inner_text()
        page.locator('.gv-wt-problem[data-kind="vanishing"]').get_by_role("button", name="Show it").click()
        vanished = [n for n, f in zip(names, vanish, strict=True) if f >= 0]
        marked = page.locator(".gv-hm-label.gv-marked").evaluate_all("els => els.map((e) => e.title)")
        assert marked == vanished
        assert page.locator(".gv-slider-label").inner_text() == f"step {int(vanish.max())}"
        assert page.errors == []
    finally:
        context.close()


# --- never a gradient, a gradient lost, not in the optimizer ----------------------------------------


class Parts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head = nn.Linear(4, 1)
        self.aux = nn.Linear(4, 1)  # an auxiliary loss, switched off after the warm-up
        self.spare = nn.Linear(4, 1)  # never called
        self.probe = nn.Linear(4, 1)  # trained by a loss term, but left out of the optimizer

    def forward(self, x: torch.Tensor, warm: bool) -> torch.Tensor:
        h = torch.tanh(self.body(x))
        out = self.head(h) + self.probe(h)
        return out + self.aux(h) if warm else out


WARM_UP = 5


def parts_train(model, opt, on_step=None) -> None:
    torch.manual_seed(1)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    for step in range(12):
        loss = F.mse_loss(model(x, step < WARM_UP), y)
        opt.zero_grad()
        loss.backward()
        before = [p.detach().clone() for p in model.parameters()]
        opt.step()
        if on_step:
            on_step(model, before)


def parts_make():
    torch.manual_seed(0)
    model = Parts()
    held = [p for n, p in model.named_parameters() if not n.startswith("probe.")]
    return model, torch.optim.SGD(held, lr=0.1)


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> dict:
    model, opt = parts_make()
    with gradviz.watch(model, optimizer=opt, weights_every=1) as mon:
        parts_train(model, opt)
    plain, plain_opt = parts_make()
    states, norms, moved = [], [], []

    def read(m, before):
        states.append([grad_state(p) for p in m.parameters()])
        norms.append(
            [float(p.grad.double().norm()) if p.grad is not None else np.nan for p in m.parameters()]
        )
        moved.append([not torch.equal(b, p) for b, p in zip(before, m.parameters(), strict=True)])

    parts_train(plain, plain_opt, read)
    path = mon.save_html(tmp_path_factory.mktemp("parts") / "parts.html")
    names = [n for n, _ in plain.named_parameters()]
    arrays = {"states": np.array(states), "norms": np.array(norms), "moved": np.array(moved)}
    return {"path": path, "names": names, **arrays}


def test_never_lost_and_not_held_gradients_get_their_lines(browser, parts):
    states, moved, names = parts["states"], parts["moved"], parts["names"]
    none = states == GradState.none
    never = [n for n, c in zip(names, none.all(axis=0), strict=True) if c]
    lost = first_rows(none & ~none.all(axis=0))
    finite = states == GradState.finite
    still = [n for n, f, m in zip(names, finite.any(axis=0), moved.any(axis=0), strict=True) if f and not m]
    assert never == ["spare.weight", "spare.bias"] and still == ["probe.weight", "probe.bias"]
    assert [n for n, f in zip(names, lost, strict=True) if f >= 0] == ["aux.weight", "aux.bias"]
    # switching the auxiliary loss off makes head.bias's gradient jump 30x: exploding, by the charts' rule
    boom = running_median_explosions(states, parts["norms"])
    assert [n for n, f in zip(names, boom, strict=True) if f >= 0] == ["head.bias"]
    context, page = open_watch_page(browser, parts["path"])
    try:
        lines = banner_lines(page)
        assert list(lines) == ["explode", "never", "none", "unchanged"]
        assert lines["explode"].endswith("— " + onset(names, boom, len(names), ("exploded", "exploded")))
        assert lines["never"] == (
            "No gradient ever — 2 parameters never got a gradient: .grad stayed None at every recorded step "
            "(spare.weight and spare.bias)."
        )
        assert lines["none"] == "Missing gradients — " + onset(
            names, lost, len(names), ("lost its gradient (.grad None)", "lost their gradients (.grad None)")
        )
        assert lines["unchanged"] == (
            "Not updated by the optimizer — 2 parameters (probe.weight and probe.bias) get gradients, but "
            "the optimizer does not hold them: their weights never change."
        )
        page.locator('.gv-wt-problem[data-kind="never"]').get_by_role("button", name="Show it").click()
        assert page.locator(".gv-hm-label.gv-marked").evaluate_all("els => els.map((e) => e.title)") == never
        assert page.errors == []
    finally:
        context.close()


def test_a_run_where_every_parameter_learns_has_no_banner(browser, tmp_path):
    model, opt = parts_make()
    model.forward = lambda x, warm: model.head(torch.tanh(model.body(x)))  # only what the optimizer holds
    with gradviz.watch(model, optimizer=opt, params=lambda n, p: n.startswith(("body.", "head."))) as mon:
        parts_train(model, opt)
    context, page = open_watch_page(browser, mon.save_html(tmp_path / "healthy.html"))
    try:
        assert page.locator(".gv-wt-banner").is_hidden()
        assert page.locator(".gv-wt-problem").count() == 0
    finally:
        context.close()


class Heads(nn.Module):
    """40 heads on one input, summed: 80 rows in one module band."""

    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(8, 1) for _ in range(40))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(head(x) for head in self.heads)


def test_show_it_scrolls_the_heatmap_to_a_row_below_the_fold(browser, tmp_path):
    """The last head is left out of the optimizer: its rows are far below the heatmap's visible part (80
    rows, no band: the model only wraps its list of heads); "Show it" brings them into view."""
    torch.manual_seed(0)
    model = Heads()
    held = [p for n, p in model.named_parameters() if not n.startswith("heads.39.")]
    opt = torch.optim.SGD(held, lr=0.01)
    x, y = torch.randn(16, 8), torch.randn(16, 1)
    with gradviz.watch(model, optimizer=opt, weights_every=1) as mon:
        for _ in range(4):
            opt.zero_grad()
            F.mse_loss(model(x), y).backward()
            opt.step()
    context, page = open_watch_page(browser, mon.save_html(tmp_path / "heads.html"))
    try:
        box = page.locator(".gv-hm-scroll")
        label = page.locator('.gv-hm-label[title="heads.39.weight"]')

        def visible() -> bool:
            outer, inner = box.bounding_box(), label.bounding_box()
            return outer["y"] <= inner["y"] and inner["y"] + inner["height"] <= outer["y"] + outer["height"]

        assert not visible()
        lines = banner_lines(page)
        assert list(lines) == ["unchanged"]
        assert "2 parameters (heads.39.weight and heads.39.bias)" in lines["unchanged"]
        page.locator('.gv-wt-problem[data-kind="unchanged"]').get_by_role("button", name="Show it").click()
        assert box.evaluate("e => e.scrollTop") > 0 and visible()
        marked = page.locator(".gv-hm-label.gv-marked").evaluate_all("els => els.map((e) => e.title)")
        assert marked == ["heads.39.weight", "heads.39.bias"]
    finally:
        context.close()
