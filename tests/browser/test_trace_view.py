"""The trace view at real scale, as standalone pages in Chromium (issue 11, trace side; issue 10's marker).
Leaves screenshots in tests/_output/, the GPT-12 first view as trace_gpt12.png (README.md's picture,
see browser_helpers.picture).

- A 12-layer GPT with one stray ``.detach()`` in block 5: the first drawing shows the cut and the red
  parameters inside the canvas, with every label at least 9 px high, the untouched blocks folded.
- Tutorial 04's tiny GPT, whose 24 parameters hang off one reentrant checkpoint: one group box, one
  dashed edge, expandable.
- A NaN born in the forward of block 8: the purple birth marker is in the first view and explains itself.
Every expected verdict is checked against plain torch on a copy of the same model and step.
"""

from __future__ import annotations

import copy
import os
import pathlib
import re
import subprocess

import pytest
import torch
import torch.nn.functional as F
from browser_helpers import OUTPUT, README_IMAGES, node, picture, wait_for_draws
from torch import nn

import gradviz
from gradviz._demos.gpt import Block, copy_batch, tiny_gpt_buggy
from gradviz.view._html import write_html
from gradviz.view._state import PALETTE, build_state

pytestmark = [pytest.mark.browser, pytest.mark.slow]

README_IMAGE = picture("trace_gpt12.png")

VIEWPORT = {"width": 1280, "height": 900}
MIN_LABEL_PX = 9


class GPT(nn.Module):
    """A 12-layer GPT built from the tutorials' Block (pre-norm attention + MLP)."""

    def __init__(self, n_layer: int = 12, d: int = 64, n_head: int = 4, vocab: int = 64, seq: int = 32):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(seq, d)
        self.blocks = nn.ModuleList(Block(d, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def _step(model: nn.Module, batch) -> torch.Tensor:
    idx, targets = batch
    logits = model(idx)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def _batch(vocab: int = 64, seq: int = 32):
    tokens = torch.randint(vocab, (4, seq + 1))
    return tokens[:, :-1], tokens[:, 1:]


def _traced(model: nn.Module, batch, step=_step) -> tuple[gradviz.Trace, nn.Module]:
    """The trace of one step, and a copy of the model that ran the same step with plain torch."""
    plain = copy.deepcopy(model)
    step(plain, batch).backward()
    with gradviz.trace(model) as t:
        step(model, batch).backward()
    return t, plain


def _none_grads(plain: nn.Module) -> set[str]:
    return {name for name, p in plain.named_parameters() if p.requires_grad and p.grad is None}


def _open(browser, path: pathlib.Path, scheme: str = "light"):
    context = browser.new_context(offline=True, viewport=VIEWPORT, color_scheme=scheme)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.resolve().as_uri())
    root = page.locator(".gradviz-root")
    wait_for_draws(root, 1, timeout=120_000)
    page.errors = errors
    return context, page


def _in_canvas(page, node_id: str) -> bool:
    """True when the whole node ``node_id`` is inside the visible graph canvas."""
    canvas = page.locator(".gv-canvas").bounding_box()
    box = node(page, node_id).bounding_box()
    return (
        box is not None
        and box["x"] >= canvas["x"]
        and box["y"] >= canvas["y"]
        and box["x"] + box["width"] <= canvas["x"] + canvas["width"]
        and box["y"] + box["height"] <= canvas["y"] + canvas["height"]
    )


def _label_px(page) -> list[float]:
    """On-screen height (font size times scale) of every label in the drawing."""
    return page.locator("svg.gv-svg text").evaluate_all(
        "(texts) => texts.map((t) => Number(t.getAttribute('font-size')) * t.getScreenCTM().a)"
    )


def _drawn(page) -> list[str]:
    return page.locator("svg.gv-svg g.node > title").all_text_contents()


# -- GPT-12 with a stray .detach() in block 5 ------------------------------------------------------------


@pytest.fixture(scope="module")
def gpt_detach(tmp_path_factory):
    torch.manual_seed(0)
    model = GPT()
    model.blocks[5].mlp[0].register_forward_hook(lambda module, args, out: out.detach())  # the stray detach
    t, plain = _traced(model, _batch())
    graph, norms, hists = build_state(t.capture, t.verdicts)
    path = tmp_path_factory.mktemp("gpt") / "gpt12.html"
    write_html(path, graph, norms, hists, title=graph["title"])
    return {"trace": t, "plain": plain, "graph": graph, "path": path}


def test_gpt12_red_parameters_are_the_ones_plain_torch_leaves_without_gradient(gpt_detach):
    red = {k for k, v in gpt_detach["trace"].verdicts.items() if v.cause.severity == "red"}
    assert red == _none_grads(gpt_detach["plain"])
    assert red == {"blocks.5.ln2.weight", "blocks.5.ln2.bias", "blocks.5.mlp.0.weight", "blocks.5.mlp.0.bias"}


def test_gpt12_first_view_shows_the_cut_and_the_red_parameters_at_readable_size(browser, gpt_detach):
    graph = gpt_detach["graph"]
    red = {
        n["id"]: n["tensor"]["name"]
        for n in graph["nodes"]
        if n["kind"] == "param" and n["severity"] == "red"
    }
    cut = next(n["id"] for n in graph["nodes"] if n["kind"] == "cut")
    context, page = _open(browser, gpt_detach["path"])
    try:
        assert page.errors == []
        for node_id in [cut, *red]:
            assert _in_canvas(page, node_id), node_id
        assert min(_label_px(page)) >= MIN_LABEL_PX
        drawn = _drawn(page)
        assert set(red) <= set(drawn)
        assert len(drawn) < 100  # 526 nodes, the unchanged blocks folded
        texts = page.locator("svg.gv-svg g.node text").all_text_contents()
        assert "▸ blocks.0–4 · Block ×5" in texts and "▸ blocks.6–11 · Block ×6" in texts
        cut_text = " ".join(node(page, cut).locator("text").all_text_contents())
        assert cut_text.startswith("✂ .detach() — test_trace_view.py:")  # a short path, not /home/...
        # the canvas follows the tall graph instead of a fixed ~430 px, within the window
        height = page.locator(".gv-canvas").bounding_box()["height"]
        assert 600 <= height <= VIEWPORT["height"]
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "trace_gpt12_first_view.png"))
        page.locator(".gradviz-root").screenshot(path=str(README_IMAGE))  # README.md's second picture
    finally:
        context.close()


def test_gpt12_fit_pans_instead_of_shrinking_text_and_a_fold_opens(browser, gpt_detach):
    context, page = _open(browser, gpt_detach["path"])
    try:
        page.get_by_role("button", name="Fit").click()
        assert min(_label_px(page)) >= MIN_LABEL_PX
        root = page.locator(".gradviz-root")
        page.locator("svg.gv-svg g.node", has_text="▸ blocks.6–11 · Block ×6").click()
        wait_for_draws(root, 2, timeout=60_000)
        texts = page.locator("svg.gv-svg g.node text").all_text_contents()
        blocks = {t for t in texts if t.startswith("▸ blocks.") and "–" not in t}
        assert blocks == {f"▸ blocks.{i}" for i in range(6, 12)}
        assert page.locator(".gv-inspector .gv-name").inner_text() == "blocks.6–11 · Block ×6"
        assert min(_label_px(page)) >= MIN_LABEL_PX
        page.get_by_role("button", name="Fold into one box").click()
        wait_for_draws(root, 3, timeout=60_000)
        assert "▸ blocks.6–11 · Block ×6" in page.locator("svg.gv-svg g.node text").all_text_contents()
    finally:
        context.close()


def test_gpt12_dark_first_view(browser, gpt_detach):
    context, page = _open(browser, gpt_detach["path"], scheme="dark")
    try:
        cut = next(n["id"] for n in gpt_detach["graph"]["nodes"] if n["kind"] == "cut")
        assert _in_canvas(page, cut)
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "trace_gpt12_dark.png"))
    finally:
        context.close()


# -- tutorial 04's tiny GPT: 24 parameters behind one checkpoint -----------------------------------------


def _gpt_step(model, batch):
    idx, targets = batch
    logits = model(idx)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    torch.manual_seed(0)
    model = tiny_gpt_buggy()
    t, plain = _traced(model, copy_batch(), step=_gpt_step)
    graph, norms, hists = build_state(t.capture, t.verdicts)
    path = tmp_path_factory.mktemp("tiny") / "tiny_gpt.html"
    write_html(path, graph, norms, hists, title=graph["title"])
    return {"trace": t, "plain": plain, "graph": graph, "path": path}


def test_24_parameters_behind_one_checkpoint_are_one_group_box(browser, checkpointed):
    truth = _none_grads(checkpointed["plain"])
    assert len(truth) == 24 and all(name.startswith("blocks.") for name in truth)
    assert {k for k, v in checkpointed["trace"].verdicts.items() if v.cause.value == "checkpoint"} == truth
    context, page = _open(browser, checkpointed["path"])
    try:
        group = page.locator("svg.gv-svg g.node.gv-group")
        assert group.count() == 1
        assert group.locator("text").first.text_content() == "blocks.* — 24 parameters, checkpoint"
        assert _in_canvas(page, "__group_0")
        assert min(_label_px(page)) >= MIN_LABEL_PX
        cut_edges = page.locator("svg.gv-svg g.edge.gv-cut > title").all_text_contents()
        assert len([e for e in cut_edges if e.startswith("__group_0->")]) == 1  # one dashed edge
        red_ids = {n["id"] for n in checkpointed["graph"]["nodes"] if n["severity"] == "red" and n["tensor"]}
        assert not red_ids & set(_drawn(page))  # all 24 are in the box
        group.click()
        inspector = page.locator(".gv-inspector")
        assert inspector.locator(".gv-badge").inner_text() == "checkpoint"
        listed = set(inspector.locator(".gv-links .gv-link").all_inner_texts())
        assert listed == truth
        page.get_by_role("button", name="Draw each parameter").click()
        wait_for_draws(page.locator(".gradviz-root"), 2, timeout=60_000)
        red = PALETTE["red"]
        filled = page.locator("svg.gv-svg").evaluate(
            """(svg, color) => [...svg.querySelectorAll("g.node")]
                .filter((g) => g.querySelector("polygon, path")?.getAttribute("fill") === color
                               && !g.classList.contains("gv-cut"))
                .map((g) => g.querySelector("title").textContent)""",
            red,
        )
        names = {n["id"]: n["tensor"]["name"] for n in checkpointed["graph"]["nodes"] if n["tensor"]}
        assert {names[i] for i in filled} == truth
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "trace_checkpoint_group.png"))
    finally:
        context.close()


# -- a NaN born in block 8's forward: the birth marker ---------------------------------------------------


@pytest.fixture(scope="module")
def nan_birth(tmp_path_factory):
    torch.manual_seed(0)
    model = GPT()
    model.blocks[8].mlp[1].register_forward_hook(lambda module, args, out: torch.log(out))  # log of GELU < 0
    batch = _batch()
    t, plain = _traced(model, batch)
    cap = t.capture
    log = next(o for o in cap.ops if o.name == "log")
    (birth,) = cap.births  # found by capture itself: the forward of log, on the node log made
    assert (birth.phase, birth.op_name, birth.op) == ("forward", "log", log.index)
    log_node = next(n for n in cap.graph if n.id == birth.node)
    assert log_node.name == "LogBackward0"
    graph, norms, hists = build_state(cap, t.verdicts)
    path = tmp_path_factory.mktemp("nan") / "nan_birth.html"
    write_html(path, graph, norms, hists, title=graph["title"])
    return {
        "trace": t,
        "plain": plain,
        "plain_loss": _step(copy.deepcopy(model), batch).detach(),
        "graph": graph,
        "path": path,
        "log_node": log_node.id,
        "site": log.site,
    }


def test_nan_verdicts_are_the_parameters_plain_torch_makes_non_finite(nan_birth):
    plain = nan_birth["plain"]
    truth = {
        name
        for name, p in plain.named_parameters()
        if p.grad is not None and not torch.isfinite(p.grad).all()
    }
    assert truth and not torch.isfinite(nan_birth["plain_loss"])
    # parameters with NaN gradients say so; the others still feed a NaN loss: never ok
    for name, v in nan_birth["trace"].verdicts.items():
        p = dict(plain.named_parameters())[name]
        if p.grad is None:
            continue
        assert v.cause.value == "nonfinite", (name, v.message)
        assert ("the loss is nan" in v.message.lower()) == (name not in truth), (name, v.message)


def test_the_purple_birth_marker_is_in_the_first_view_and_explains_itself(browser, nan_birth):
    context, page = _open(browser, nan_birth["path"])
    try:
        assert page.errors == []
        assert _in_canvas(page, "b0") and _in_canvas(page, nan_birth["log_node"])
        assert min(_label_px(page)) >= MIN_LABEL_PX
        marker = node(page, "b0")
        label = " ".join(marker.locator("text").all_text_contents())
        assert label.startswith("☢ NaN born: log — test_trace_view.py:")
        purple = PALETTE["nonfinite"]
        assert marker.locator("polygon, path").first.get_attribute("stroke") == purple
        assert (
            node(page, nan_birth["log_node"]).locator("polygon, path").first.get_attribute("fill") == purple
        )
        edges = page.locator("svg.gv-svg g.edge.gv-birth > title").all_text_contents()
        assert edges == [f"b0->{nan_birth['log_node']}"]
        marker.click()
        inspector = page.locator(".gv-inspector")
        text = inspector.inner_text()
        assert inspector.locator(".gv-badge").inner_text() == "NaN"
        assert "NaN first appeared in the forward of log: from a negative input." in text
        assert nan_birth["site"].where in text  # the full path
        assert "torch.log(out)" in inspector.locator(".gv-code").inner_text()
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "trace_nan_birth.png"))
    finally:
        context.close()


# -- NaN and Inf norms in the inspector ------------------------------------------------------------------


class NonFinite(nn.Module):
    """A finite loss whose gradients are +Inf for ``a`` (sqrt'(0) = 1/0), NaN for ``b`` (the masked sqrt:
    0 x sqrt'(-1)) and finite for ``c``."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.zeros(3))
        self.b = nn.Parameter(-torch.ones(3))
        self.c = nn.Parameter(torch.ones(3))

    def forward(self) -> torch.Tensor:
        masked = torch.where(self.b > 0, self.b.sqrt(), torch.zeros(3))
        return self.a.sqrt().sum() + masked.sum() + (self.c * 2).sum()


@pytest.fixture(scope="module")
def non_finite(tmp_path_factory):
    t, plain = _traced(NonFinite(), None, step=lambda model, _: model())
    graph, norms, hists = build_state(t.capture, t.verdicts)
    path = tmp_path_factory.mktemp("nonfinite") / "non_finite.html"
    write_html(path, graph, norms, hists, title=graph["title"])
    ids = {n["tensor"]["name"]: n["id"] for n in graph["nodes"] if n["kind"] == "param"}
    return {"plain": plain, "path": path, "ids": ids}


def _inspector_rows(page) -> dict[str, str]:
    """The inspector's label -> value pairs, verdict rows and tensor tables alike (the last one wins: the
    gradient's table comes after the value's)."""
    return page.locator(".gv-inspector").evaluate(
        """(panel) => Object.fromEntries([
            ...[...panel.querySelectorAll(".gv-row")]
                .map((r) => [r.children[0].textContent, r.children[1].textContent]),
            ...[...panel.querySelectorAll(".gv-table tr")]
                .map((r) => [r.cells[0].textContent, r.cells[1].textContent]),
        ])"""
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_nan_and_inf_gradient_norms_read_as_nan_and_inf_in_the_inspector(browser, non_finite, scheme):
    words = {}
    for name, p in non_finite["plain"].named_parameters():
        norm = torch.linalg.vector_norm(p.grad).item()
        words[name] = "NaN" if norm != norm else "Inf" if norm == float("inf") else None
    assert words == {"a": "Inf", "b": "NaN", "c": None}  # what torch itself gives this step
    context, page = _open(browser, non_finite["path"], scheme=scheme)
    try:
        for name in ("a", "b"):
            node(page, non_finite["ids"][name]).click()
            assert page.locator(".gv-inspector .gv-name").inner_text() == name
            rows = _inspector_rows(page)
            assert rows["Grad norm"] == words[name], (name, rows)
            assert rows["norm"] == words[name], (name, rows)  # the gradient's own table
            assert rows["min … max"] == "no finite value", (name, rows)
            assert "-Inf" not in page.locator(".gv-inspector").inner_text()
            page.screenshot(path=str(OUTPUT / f"trace_inspector_{words[name]}_{scheme}.png"))
        node(page, non_finite["ids"]["c"]).click()
        norm = torch.linalg.vector_norm(dict(non_finite["plain"].named_parameters())["c"].grad).item()
        assert float(_inspector_rows(page)["Grad norm"]) == pytest.approx(norm, rel=1e-3)
    finally:
        context.close()


# -- the inspector: first content, groups, modules, wrapping, search, reset, "Only problems" -------------


def _selected(page) -> list[str]:
    """Titles of the drawn elements marked as what the inspector shows."""
    return page.locator("svg.gv-svg .gv-selected > title").all_text_contents()


def _inspector_links(page) -> list[str]:
    return page.locator(".gv-inspector .gv-links .gv-link").all_inner_texts()


def test_the_inspector_opens_on_the_problem_the_first_view_centres_on(browser, gpt_detach, checkpointed):
    for case in (gpt_detach, checkpointed):
        truth = _none_grads(case["plain"])
        cut = next(n for n in case["graph"]["nodes"] if n["kind"] == "cut")
        context, page = _open(browser, case["path"])
        try:
            assert _selected(page) == [cut["id"]] and _in_canvas(page, cut["id"])  # centred and marked
            inspector = page.locator(".gv-inspector")
            assert inspector.locator(".gv-name").inner_text() == cut["label"]
            assert set(_inspector_links(page)) == truth
            # the verdict the cut explains, in words true of every parameter it cuts
            cause = {case["trace"].verdicts[name].cause.value for name in truth}
            assert [inspector.locator(".gv-badge").inner_text()] == list(cause)
            message = inspector.locator(".gv-message").inner_text()
            assert message.startswith(f"Each of these {len(truth)} parameters gets no gradient")
            assert not any(name in message for name in truth)  # never one of them standing for all
        finally:
            context.close()


def test_the_nan_trace_opens_on_its_birth_marker(browser, nan_birth):
    context, page = _open(browser, nan_birth["path"])
    try:
        assert _selected(page) == ["b0"]
        assert page.locator(".gv-inspector .gv-name").inner_text().startswith("☢ NaN born: log — ")
    finally:
        context.close()


def test_a_group_box_panel_speaks_for_every_member_and_lists_them(browser, checkpointed):
    truth = _none_grads(checkpointed["plain"])
    context, page = _open(browser, checkpointed["path"])
    try:
        page.locator("svg.gv-svg g.node.gv-group").click()
        inspector = page.locator(".gv-inspector")
        assert inspector.locator(".gv-name").inner_text() == "blocks.* — 24 parameters, checkpoint"
        message = inspector.locator(".gv-message").inner_text()
        assert message.startswith("Each of these 24 parameters gets no gradient: it runs inside a reentrant")
        assert not any(name in message for name in truth)
        assert inspector.locator("h4", has_text="Parameters (24)").count() == 1
        assert set(_inspector_links(page)) == truth
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "trace_group_panel.png"))
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_module_panel_lists_the_verdict_of_each_parameter(browser, gpt_detach, scheme):
    verdicts = gpt_detach["trace"].verdicts
    inside = {name: v.cause.value for name, v in verdicts.items() if name.startswith("blocks.5.")}
    none = {name for name in _none_grads(gpt_detach["plain"]) if name.startswith("blocks.5.")}
    assert {name for name, cause in inside.items() if cause != "ok"} == none and len(inside) == 12
    context, page = _open(browser, gpt_detach["path"], scheme=scheme)
    try:
        page.locator("svg.gv-svg g.cluster > text", has_text="blocks.5 · Block").click()  # collapses it
        wait_for_draws(page.locator(".gradviz-root"), 2, timeout=60_000)
        inspector = page.locator(".gv-inspector")
        assert inspector.locator(".gv-name").inner_text() == "blocks.5"
        rows = inspector.locator(".gv-params li").evaluate_all(
            "(items) => items.map((li) => [li.querySelector('.gv-link').textContent,"
            " li.querySelector('.gv-badge').textContent])"
        )
        assert dict(rows) == inside and len(rows) == len(inside)
        assert [cause for _, cause in rows[: len(none)]] == ["detach"] * len(none)  # problems first
        assert inspector.locator(".gv-counts").inner_text() == "4 detach · 8 ok"
        page.screenshot(path=str(OUTPUT / f"trace_module_panel_{scheme}.png"))
    finally:
        context.close()


# Faults of wrapping in the inspector: a line break between two characters of one text node (breaks
# belong at spaces and at the <wbr> joints of dom.js breakable()), and table labels that run into their
# values. Each fault names the text around it.
_WRAP_FAULTS = """
(panel) => {
  const faults = [];
  const walker = document.createTreeWalker(panel, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const s = t.textContent;
    for (let i = 0; i + 1 < s.length; i++) {
      if (/\\s/.test(s[i]) || /\\s/.test(s[i + 1])) continue;
      const r = document.createRange();
      r.setStart(t, i);
      r.setEnd(t, i + 2);
      const rects = [...r.getClientRects()].filter((b) => b.width > 0);
      if (rects.length > 1 && Math.abs(rects[0].top - rects[rects.length - 1].top) > 2) {
        faults.push(`break inside "${s.slice(Math.max(0, i - 12), i + 13)}"`);
      }
    }
  }
  for (const tr of panel.querySelectorAll(".gv-table tr")) {
    const r = document.createRange();
    r.selectNodeContents(tr.cells[0]);
    const label = r.getBoundingClientRect();
    r.selectNodeContents(tr.cells[1]);
    const value = r.getBoundingClientRect();
    const name = tr.cells[0].textContent;
    if (value.width > 0 && label.right > value.left - 4) faults.push(`"${name}" runs into its value`);
  }
  for (const row of panel.querySelectorAll(".gv-row")) {
    const [label, value] = row.children;
    if (label.scrollWidth > label.clientWidth + 1) faults.push(`"${label.textContent}" overflows its column`);
    const r = document.createRange();
    r.selectNodeContents(label);
    const lines = new Set([...r.getClientRects()].map((b) => Math.round(b.top)));
    if (lines.size > 1) faults.push(`"${label.textContent}" wraps`);
  }
  return faults;
}
"""


def test_long_values_wrap_at_their_joints_and_labels_never_touch_values(browser, checkpointed, nan_birth):
    context, page = _open(browser, checkpointed["path"])
    try:
        inspector = page.locator(".gv-inspector")
        assert "enable_input_require_grads()" in inspector.inner_text()  # the fix of the first view
        assert inspector.evaluate(_WRAP_FAULTS) == []
        page.locator("svg.gv-svg g.node.gv-group").click()
        assert inspector.evaluate(_WRAP_FAULTS) == []
        page.get_by_role("button", name="Draw each parameter").click()
        wait_for_draws(page.locator(".gradviz-root"), 2, timeout=60_000)
        inspector.get_by_role("button", name="blocks.0.qkv.weight", exact=True).click()  # reveals it
        assert inspector.locator(".gv-name").inner_text() == "blocks.0.qkv.weight"
        assert "requires_grad" in inspector.inner_text()
        assert inspector.evaluate(_WRAP_FAULTS) == []
        page.screenshot(path=str(OUTPUT / "trace_inspector_wrapping.png"))
    finally:
        context.close()
    context, page = _open(browser, nan_birth["path"], scheme="dark")
    try:
        inspector = page.locator(".gv-inspector")
        assert inspector.evaluate(_WRAP_FAULTS) == []
        node(page, nan_birth["log_node"]).click()
        assert inspector.evaluate(_WRAP_FAULTS) == []
    finally:
        context.close()


def test_search_says_how_many_more_it_found_and_reset_clears_it(browser, gpt_detach):
    weights = [name for name, _ in gpt_detach["plain"].named_parameters() if name.split(".")[-1] == "weight"]
    assert len(weights) > 8  # more than the list shows
    context, page = _open(browser, gpt_detach["path"])
    try:
        box = page.get_by_role("searchbox", name="Find a node")
        box.fill("weight")
        results = page.locator(".gv-results")
        assert results.locator(".gv-result").count() == 8
        assert results.locator(".gv-more").inner_text() == f"+{len(weights) - 8} more: type more of the name"
        box.fill("blocks.5.mlp.0.w")  # one hit: nothing more
        assert results.locator(".gv-result").count() == 1 and results.locator(".gv-more").count() == 0
        first = page.locator(".gv-inspector .gv-name").inner_text()
        box.fill("blocks.0.ln1.weight")  # inside the folded blocks.0–4: opens them
        box.press("Enter")
        wait_for_draws(page.locator(".gradviz-root"), 2, timeout=60_000)
        assert page.locator(".gv-inspector .gv-name").inner_text() == "blocks.0.ln1.weight"
        box.fill("weight")
        assert results.is_visible()
        page.get_by_role("button", name="Reset").click()
        wait_for_draws(page.locator(".gradviz-root"), 3, timeout=60_000)
        assert box.input_value() == "" and results.is_hidden()
        assert page.locator(".gv-inspector .gv-name").inner_text() == first  # back on the first problem
    finally:
        context.close()


def test_only_problems_never_leaves_the_inspector_on_something_no_longer_drawn(browser, gpt_detach):
    graph = gpt_detach["graph"]
    cut = next(n for n in graph["nodes"] if n["kind"] == "cut")
    context, page = _open(browser, gpt_detach["path"])
    root = page.locator(".gradviz-root")
    try:
        drawn = set(_drawn(page))
        healthy = next(
            n
            for n in graph["nodes"]
            if n["kind"] == "param"
            and n["severity"] == "ok"
            and n["id"] in drawn
            and _in_canvas(page, n["id"])
        )
        for click, name in (
            (lambda: node(page, healthy["id"]).click(), healthy["tensor"]["name"]),
            (
                lambda: page.locator(
                    "svg.gv-svg g.cluster > text", has_text="blocks.5.proj · Linear"
                ).click(),
                "blocks.5.proj",
            ),
        ):
            draws = int(root.get_attribute("data-draws"))
            click()
            wait_for_draws(root, draws, timeout=60_000)
            page.wait_for_timeout(200)
            assert page.locator(".gv-inspector .gv-name").inner_text() == name
            draws = int(root.get_attribute("data-draws"))
            page.get_by_label("Only problems").check()
            wait_for_draws(root, draws + 1, timeout=60_000)
            assert page.locator(".gv-inspector .gv-name").inner_text() == cut["label"]
            assert _selected(page) == [cut["id"]]
            page.get_by_label("Only problems").uncheck()
            wait_for_draws(root, draws + 2, timeout=60_000)
        page.screenshot(path=str(OUTPUT / "trace_only_problems.png"))
    finally:
        context.close()


# -- what README.md says of this page and its picture ----------------------------------------------------


def test_the_readme_gives_this_pages_measured_size(gpt_detach):
    """README.md's picture is this GPT's first view, and it gives the size of its saved page: the measured
    one (MB = 10^6 bytes, to within 3%), so a bundle that grows makes the sentence fail here."""
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"measured: ([\d.]+) MB\s+for this GPT", readme)
    assert stated is not None
    size = gpt_detach["path"].stat().st_size / 1e6
    assert float(stated.group(1)) == pytest.approx(size, rel=0.03), f"the page is {size:.2f} MB"


def test_the_readme_picture_is_redrawn_only_on_request(monkeypatch):
    """Running the tests never rewrites the README's tracked picture: it goes to tests/_output/ unless
    GRADVIZ_README_IMAGES=1 asks for it."""
    monkeypatch.delenv("GRADVIZ_README_IMAGES", raising=False)
    assert picture("trace_gpt12.png").parent == OUTPUT
    assert README_IMAGE.parent == OUTPUT or os.environ.get("GRADVIZ_README_IMAGES") == "1"
    root = README_IMAGES.parents[1]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(OUTPUT / "trace_gpt12.png")], cwd=root, check=False
    )
    assert ignored.returncode == 0  # tests/_output/ is not tracked
    monkeypatch.setenv("GRADVIZ_README_IMAGES", "1")
    assert picture("trace_gpt12.png") == README_IMAGES / "trace_gpt12.png"


# -- display scale (projectors) --------------------------------------------------------------------------


_OVERLAPS = """
(root) => {
  const rect = (el) => el.getBoundingClientRect();
  const meet = (a, b) =>
    a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const faults = [];
  const outer = rect(root);
  const groups = [
    [...root.querySelectorAll(".gv-toolbar > *")],
    [...root.querySelectorAll(".gv-legend-item")],
    [root.querySelector(".gv-stage"), root.querySelector(".gv-inspector")],
  ];
  for (const els of groups) {
    const shown = els.filter((el) => el && rect(el).width > 0);
    for (const el of shown) {
      const r = rect(el);
      if (r.left < outer.left - 1 || r.right > outer.right + 1) faults.push(`${el.className} sticks out`);
    }
    for (let i = 0; i < shown.length; i++)
      for (let j = i + 1; j < shown.length; j++)
        if (meet(rect(shown[i]), rect(shown[j])))
          faults.push(`${shown[i].className} overlaps ${shown[j].className}`);
  }
  return faults;
}
"""


def _text_height(page, selector: str) -> float:
    return page.locator(selector).first.evaluate(
        """(el) => {
            const r = document.createRange();
            r.selectNodeContents(el);
            return r.getBoundingClientRect().height;
        }"""
    )


@pytest.mark.parametrize("scale", [1.25, 1.5])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_display_scale_enlarges_everything_without_overlaps_and_is_remembered(
    browser, gpt_detach, scale, scheme
):
    cut = next(n["id"] for n in gpt_detach["graph"]["nodes"] if n["kind"] == "cut")
    context = browser.new_context(offline=True, viewport=VIEWPORT, color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(gpt_detach["path"].resolve().as_uri())
        wait_for_draws(page.locator(".gradviz-root"), 1, timeout=120_000)
        size = page.get_by_label("Display size")
        assert size.input_value() == "1"
        title, label = _text_height(page, ".gv-title"), min(_label_px(page))
        size.select_option(str(scale))
        assert _text_height(page, ".gv-title") == pytest.approx(title * scale, rel=0.08)
        assert min(_label_px(page)) == pytest.approx(label * scale, rel=0.02)
        assert page.locator(".gradviz-root").evaluate(_OVERLAPS) == []
        assert page.locator(".gv-inspector").evaluate(_WRAP_FAULTS) == []
        # a new page of the same origin opens at that scale, its first view on the problem
        again = context.new_page()
        again.goto(gpt_detach["path"].resolve().as_uri())
        wait_for_draws(again.locator(".gradviz-root"), 1, timeout=120_000)
        assert again.get_by_label("Display size").input_value() == str(scale)
        assert min(_label_px(again)) >= MIN_LABEL_PX * scale
        assert _in_canvas(again, cut)
        assert again.locator(".gradviz-root").evaluate(_OVERLAPS) == []
        assert again.locator(".gv-inspector").evaluate(_WRAP_FAULTS) == []
        again.screenshot(path=str(OUTPUT / f"trace_gpt12_scale_{scale}_{scheme}.png"))
    finally:
        context.close()


def test_a_page_saved_at_a_scale_opens_at_it(browser, gpt_detach, tmp_path):
    """Trace.save_html(scale=1.5): the page opens drawn larger, with no toolbar choice made in it."""
    path = gpt_detach["trace"].save_html(tmp_path / "gpt12_projector.html", scale=1.5)
    context = browser.new_context(offline=True, viewport=VIEWPORT)
    try:
        plain, big = context.new_page(), None
        plain.goto(gpt_detach["path"].resolve().as_uri())
        wait_for_draws(plain.locator(".gradviz-root"), 1, timeout=120_000)
        label = min(_label_px(plain))
        big = context.new_page()
        big.goto(path.resolve().as_uri())
        wait_for_draws(big.locator(".gradviz-root"), 1, timeout=120_000)
        assert big.get_by_label("Display size").input_value() == "1.5"
        # 1.5 times the first view's labels, less up to the 10% a first view may zoom out to keep nodes
        # whole (layout/frame.js, NOTE [framing]), never under 1.5 x 9 px
        assert label * 1.5 * 0.9 - 0.01 <= min(_label_px(big)) <= label * 1.5 * 1.02
        assert min(_label_px(big)) >= MIN_LABEL_PX * 1.5
        assert big.locator(".gradviz-root").evaluate(_OVERLAPS) == []
        big.screenshot(path=str(OUTPUT / "trace_gpt12_saved_at_scale_1.5.png"))
    finally:
        context.close()
