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
import pathlib

import pytest
import torch
import torch.nn.functional as F
from browser_helpers import OUTPUT, node, picture, wait_for_draws
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
