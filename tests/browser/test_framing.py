"""First views use the canvas (issue 20, "Framing"): as standalone pages in Chromium, light and dark.

Each view is measured in the page: the nodes the canvas cuts (partly in, partly out: 0), the share of the
canvas the drawing leaves empty (outside the bounding box of the visible nodes and module boxes: at most
a third, or what the drawing leaves even at its largest fit scale when it is too narrow or short to fill
it), and the smallest label (>= 9 px). Views: a tiny Hugging Face GPT-2 (2 layers, from GPT2Config); the
12-layer GPT of test_trace_view with a stray .detach() (first view, "Only problems", the unfolded
``blocks.0–4 ×5``); its NaN trace; "Fit", which says what it did. Screenshots in tests/_output/framing_*.

Edges never cross a module title (``ln_f``, ``blocks · ModuleList``, ``model.norm · LlamaRMSNorm``):
measured over the whole drawing, each title's box against points every unit along every edge.
"""

from __future__ import annotations

import pytest
import torch
import transformers as tf
from browser_helpers import OUTPUT, wait_for_draws
from test_trace_view import GPT, MIN_LABEL_PX, VIEWPORT, _batch, _step, _traced

import gradviz
from gradviz.view._html import write_html
from gradviz.view._state import build_state

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MAX_EMPTY = 1 / 3
FIT_SCALE = 1.25  # svg-view.js MAX_FIT_SCALE: a drawing is never enlarged past this to fill the canvas
TOLERANCE = 0.03  # of the canvas: a node's margin

# Measured in the page: what the canvas shows of the drawing. `possible` is the share of the canvas the
# whole drawing covers at the fit scale (a narrow drawing cannot cover more, whatever the view).
_MEASURE = """
(root) => {
  const canvas = root.querySelector(".gv-canvas").getBoundingClientRect();
  const svg = root.querySelector("svg.gv-svg");
  const meets = (r) =>
    r.left < canvas.right && r.right > canvas.left && r.top < canvas.bottom && r.bottom > canvas.top;
  const cut = [];
  let [left, top, right, bottom] = [Infinity, Infinity, -Infinity, -Infinity];
  const use = (r) => {
    left = Math.min(left, Math.max(r.left, canvas.left));
    top = Math.min(top, Math.max(r.top, canvas.top));
    right = Math.max(right, Math.min(r.right, canvas.right));
    bottom = Math.max(bottom, Math.min(r.bottom, canvas.bottom));
  };
  for (const g of svg.querySelectorAll("g.node")) {
    const r = g.getBoundingClientRect();
    if (!meets(r)) continue;
    use(r);
    const inside = r.left >= canvas.left - 0.5 && r.top >= canvas.top - 0.5
      && r.right <= canvas.right + 0.5 && r.bottom <= canvas.bottom + 0.5;
    if (!inside) cut.push(g.querySelector("title").textContent);
  }
  for (const box of svg.querySelectorAll("g.cluster > :is(path, polygon)")) {
    const r = box.getBoundingClientRect();
    if (meets(r)) use(r);
  }
  const area = canvas.width * canvas.height;
  const empty = left <= right ? 1 - ((right - left) * (bottom - top)) / area : 1;
  const scale = svg.getScreenCTM().a;
  const drawing = svg.querySelector("g.graph").getBoundingClientRect();
  const k = FIT / scale;
  const possible = Math.min(1, (drawing.width * k) / canvas.width)
    * Math.min(1, (drawing.height * k) / canvas.height);
  const labels = [...svg.querySelectorAll("text")]
    .map((t) => Number(t.getAttribute("font-size")) * t.getScreenCTM().a);
  // what the overview hides: the problems, markers and the selection must stay in sight
  const map = root.querySelector(".gv-minimap");
  const covered = [];
  if (map && !map.hidden) {
    const m = map.getBoundingClientRect();
    const important = ".gv-selected, .gv-cut, .gv-birth, .gv-flagged, .gv-group, .gv-loss";
    for (const g of svg.querySelectorAll(`g.node:is(${important})`)) {
      const r = g.getBoundingClientRect();
      if (r.left < m.right && r.right > m.left && r.top < m.bottom && r.bottom > m.top) {
        covered.push(g.querySelector("title").textContent);
      }
    }
  }
  return { cut, covered, empty, possible, label: Math.min(...labels), canvas: [canvas.width, canvas.height] };
}
""".replace("FIT", str(FIT_SCALE))


# Every (edge, title) pair where the edge runs through the title's box (the text as drawn).
_CROSSINGS = """
(svg) => {
  const titles = [...svg.querySelectorAll("g.cluster > text")].map((t) => ({ text: t, box: t.getBBox() }));
  const found = [];
  for (const path of svg.querySelectorAll("g.edge > path")) {
    const length = path.getTotalLength();
    const points = [];
    for (let s = 0; s <= length; s += 1) points.push(path.getPointAtLength(s));
    for (const { text, box } of titles) {
      const inside = points.some((p) =>
        p.x > box.x && p.x < box.x + box.width && p.y > box.y && p.y < box.y + box.height);
      if (inside) found.push(`${path.parentNode.querySelector("title").textContent} x ${text.textContent}`);
    }
  }
  return found;
}
"""


def _page(browser, path, scheme="light"):
    context = browser.new_context(offline=True, viewport=VIEWPORT, color_scheme=scheme)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.resolve().as_uri())
    wait_for_draws(page.locator(".gradviz-root"), 1, timeout=120_000)
    page.errors = errors
    return context, page


def _uses_the_canvas(page, shot: str) -> dict:
    """The view cuts no node, leaves at most a third of the canvas empty (or what the drawing leaves at
    its fit scale), and every label is >= 9 px; a screenshot of it goes to tests/_output/."""
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"framing_{shot}.png"))
    m = page.locator(".gradviz-root").evaluate(_MEASURE)
    assert m["cut"] == [], m
    assert m["covered"] == [], m  # the overview sits in a corner where it hides no problem
    assert m["empty"] <= max(MAX_EMPTY, 1 - m["possible"]) + TOLERANCE, m
    assert m["label"] >= MIN_LABEL_PX, m
    assert page.errors == []
    return m


def _write(path, trace, scale: float = 0.0):
    graph, norms, hists = build_state(trace.capture, trace.verdicts)
    write_html(path, graph, norms, hists, title=graph["title"], scale=scale)
    return path


@pytest.fixture(scope="module")
def hf_gpt2(tmp_path_factory):
    torch.manual_seed(0)
    config = tf.GPT2Config(vocab_size=96, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    model = tf.GPT2LMHeadModel(config)
    ids = torch.randint(96, (2, 16))
    with gradviz.trace(model) as t:
        model(input_ids=ids, labels=ids).loss.backward()
    return _write(tmp_path_factory.mktemp("hf") / "hf_gpt2.html", t)


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    torch.manual_seed(0)
    config = tf.LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    model = tf.LlamaForCausalLM(config)
    ids = torch.randint(64, (2, 16))
    with gradviz.trace(model) as t:
        model(input_ids=ids, labels=ids).loss.backward()
    return _write(tmp_path_factory.mktemp("llama") / "llama.html", t)


@pytest.fixture(scope="module")
def gpt12(tmp_path_factory):
    torch.manual_seed(0)
    model = GPT()
    model.blocks[5].mlp[0].register_forward_hook(lambda module, args, out: out.detach())
    t, _ = _traced(model, _batch())
    return _write(tmp_path_factory.mktemp("gpt") / "gpt12.html", t)


@pytest.fixture(scope="module")
def gpt12_nan(tmp_path_factory):
    torch.manual_seed(0)
    model = GPT()
    model.blocks[8].mlp[1].register_forward_hook(lambda module, args, out: torch.log(out))
    t, _ = _traced(model, _batch())
    return _write(tmp_path_factory.mktemp("nan") / "gpt12_nan.html", t)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_tiny_hf_gpt2_opens_filling_the_canvas(browser, hf_gpt2, scheme):
    context, page = _page(browser, hf_gpt2, scheme)
    try:
        m = _uses_the_canvas(page, f"hf_gpt2_{scheme}")
        assert m["empty"] <= MAX_EMPTY, m  # narrow, but it fills the canvas it is given
        assert _inside(page, page.locator("svg.gv-svg g.node.gv-loss"))  # the top of it, the loss, whole
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_gpt12_first_view_only_problems_and_an_unfolded_run_use_the_canvas(browser, gpt12, scheme):
    context, page = _page(browser, gpt12, scheme)
    root = page.locator(".gradviz-root")
    try:
        _uses_the_canvas(page, f"gpt12_{scheme}")
        page.get_by_label("Only problems").check()
        wait_for_draws(root, 2, timeout=60_000)
        _uses_the_canvas(page, f"gpt12_only_problems_{scheme}")
        cut = page.locator("svg.gv-svg g.node.gv-cut")
        canvas = page.locator(".gv-canvas").bounding_box()
        box = cut.bounding_box()
        assert canvas["y"] <= box["y"] and box["y"] + box["height"] <= canvas["y"] + canvas["height"]
        page.get_by_label("Only problems").uncheck()
        wait_for_draws(root, 3, timeout=60_000)
        # the fold may be off-view in the first view: click it as the inspector's search would reach it
        page.locator("svg.gv-svg g.node", has_text="▸ blocks.0–4 · Block ×5").dispatch_event("click")
        wait_for_draws(root, 4, timeout=60_000)
        _uses_the_canvas(page, f"gpt12_unfolded_{scheme}")
        blocks = [page.locator("svg.gv-svg g.node", has_text=f"▸ blocks.{i}\n") for i in range(5)]
        assert all(b.count() == 1 for b in blocks)
        inside = [i for i, b in enumerate(blocks) if _inside(page, b)]
        assert len(inside) >= 3, inside  # the unfolded blocks are what the view shows, not a corner
        overview = page.locator(".gv-minimap").bounding_box()
        for i in inside:  # ... and the overview is not over them
            b = blocks[i].bounding_box()
            apart = (
                b["x"] + b["width"] <= overview["x"]
                or overview["x"] + overview["width"] <= b["x"]
                or b["y"] + b["height"] <= overview["y"]
                or overview["y"] + overview["height"] <= b["y"]
            )
            assert apart, f"the overview hides blocks.{i}"
    finally:
        context.close()


def _inside(page, locator) -> bool:
    canvas = page.locator(".gv-canvas").bounding_box()
    b = locator.bounding_box()
    return (
        b is not None
        and b["x"] >= canvas["x"]
        and b["y"] >= canvas["y"]
        and b["x"] + b["width"] <= canvas["x"] + canvas["width"]
        and b["y"] + b["height"] <= canvas["y"] + canvas["height"]
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_nan_trace_opens_on_its_birth_filling_the_canvas(browser, gpt12_nan, scheme):
    context, page = _page(browser, gpt12_nan, scheme)
    try:
        m = _uses_the_canvas(page, f"gpt12_nan_{scheme}")
        assert m["empty"] <= MAX_EMPTY, m  # the drawing is wide enough to fill: no column beside blank canvas
        assert _inside(page, page.locator("svg.gv-svg g.node.gv-birth"))
    finally:
        context.close()


def test_fit_visibly_fits_and_says_when_it_changed_nothing(browser, gpt12, hf_gpt2):
    context, page = _page(browser, gpt12)
    try:
        before = page.locator("svg.gv-svg").get_attribute("viewBox")
        page.get_by_role("button", name="Fit").click()
        after = page.locator("svg.gv-svg").get_attribute("viewBox")
        w0, w1 = float(before.split()[2]), float(after.split()[2])
        assert w1 > w0 * 1.05  # zoomed out as far as labels stay readable
        notice = page.locator(".gv-notice")
        assert notice.is_visible() and "smallest readable size" in notice.inner_text()
        assert "drag to pan" in notice.inner_text().lower()
        _uses_the_canvas(page, "gpt12_fit")
        page.get_by_role("button", name="Fit").click()
        assert notice.inner_text().startswith("Already fitted as far as labels stay readable")
    finally:
        context.close()
    context, page = _page(browser, hf_gpt2)
    try:
        page.get_by_role("button", name="Fit").click()
        assert page.locator(".gv-notice").is_visible()
        assert min(page.locator(".gradviz-root").evaluate(_MEASURE)["label"], 99) >= MIN_LABEL_PX
    finally:
        context.close()


@pytest.mark.parametrize("case", ["hf_gpt2", "llama", "gpt12", "gpt12_nan"])
def test_no_edge_crosses_a_module_title(browser, request, case):
    context, page = _page(browser, request.getfixturevalue(case))
    root = page.locator(".gradviz-root")
    try:
        svg = page.locator("svg.gv-svg")
        titles = page.locator("svg.gv-svg g.cluster > text").all_text_contents()
        assert len(titles) >= 3  # module boxes drawn
        assert svg.evaluate(_CROSSINGS) == []
        if case == "gpt12":
            page.get_by_label("Only problems").check()
            wait_for_draws(root, 2, timeout=60_000)
            assert svg.evaluate(_CROSSINGS) == []
            page.get_by_label("Only problems").uncheck()
            wait_for_draws(root, 3, timeout=60_000)
            page.locator("svg.gv-svg g.node", has_text="▸ blocks.0–4 · Block ×5").dispatch_event("click")
            wait_for_draws(root, 4, timeout=60_000)
            assert svg.evaluate(_CROSSINGS) == []
        # a title shortened to clear an edge keeps the whole one (its tooltip, and the text read here)
        for text in page.locator("svg.gv-svg g.cluster > text:has(title)").all():
            shown = text.evaluate("(t) => t.firstChild.textContent")
            whole = text.locator("title").text_content()
            assert shown.startswith("▾ ") and whole.startswith("▾ ") and shown != whole
            name = shown.removeprefix("▾ ").lstrip("…").split(" · ")[0]
            path = whole.removeprefix("▾ ").split(" · ")[0]
            assert path == name or path.endswith(f".{name}")  # its path, less its parent's
        page.screenshot(path=str(OUTPUT / f"framing_titles_{case}.png"))
    finally:
        context.close()


def _view_box(page) -> list[float]:
    return [float(v) for v in page.locator("svg.gv-svg").get_attribute("viewBox").split()]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_an_overview_frames_the_view_and_a_click_goes_there(browser, gpt12, hf_gpt2, scheme):
    context, page = _page(browser, gpt12, scheme)
    try:
        overview = page.locator(".gv-minimap")
        assert overview.is_visible()  # the drawing is larger than the canvas
        box = overview.bounding_box()
        assert box["width"] <= 170 and box["height"] <= 190  # a corner, not a second canvas
        # the frame is the view: its corners, mapped into the drawing, are the viewBox's (clipped to it)
        frame = page.locator(".gv-minimap-frame")
        x, y, w, h = (float(frame.get_attribute(a)) for a in ("x", "y", "width", "height"))
        vx, vy, vw, vh = _view_box(page)
        assert x == pytest.approx(max(vx, x), abs=0.5) and y == pytest.approx(max(vy, y), abs=0.5)
        assert x + w <= vx + vw + 0.5 and y + h <= vy + vh + 0.5 and w > 0 and h > 0
        # a click near the bottom of the map centres the view on that point of the drawing
        target = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] * 0.9}
        point = page.locator(".gv-minimap-svg").evaluate(
            "(svg, p) => { const q = new DOMPoint(p.x, p.y).matrixTransform(svg.getScreenCTM().inverse());"
            " return [q.x, q.y]; }",
            target,
        )
        before = _view_box(page)
        page.mouse.click(target["x"], target["y"])
        vx, vy, vw, vh = _view_box(page)
        assert vy > before[1] + vh / 2  # moved down the drawing, at the same scale
        assert vw == pytest.approx(before[2]) and vh == pytest.approx(before[3])
        assert vx <= point[0] <= vx + vw and vy <= point[1] <= vy + vh  # the point is in view ...
        bounds = page.locator(".gv-minimap-svg").get_attribute("viewBox").split()
        _, by, _, bh = (float(v) for v in bounds)
        assert vy + vh <= by + bh + 0.5  # ... and the view stops at the drawing's edge
        fy, fh = float(frame.get_attribute("y")), float(frame.get_attribute("height"))
        assert fy <= point[1] <= fy + fh  # the frame followed
        # a panned view: it may cut nodes
        page.screenshot(path=str(OUTPUT / f"framing_overview_jump_{scheme}.png"))
        # the map covers a corner of the canvas: its × folds it to a button, which brings it back
        view = _view_box(page)
        page.get_by_role("button", name="Hide the overview").click()
        assert _view_box(page) == view  # no jump
        assert overview.bounding_box()["height"] < 40
        page.get_by_role("button", name="Show the overview of the whole graph").click()
        assert overview.bounding_box()["height"] == pytest.approx(box["height"], abs=1)
        assert min(page.locator(".gradviz-root").evaluate(_MEASURE)["label"], 99) >= MIN_LABEL_PX
        page.screenshot(path=str(OUTPUT / f"framing_overview_{scheme}.png"))
    finally:
        context.close()
    context, page = _page(browser, hf_gpt2, scheme)
    try:
        page.get_by_role("button", name="Fit").click()  # still larger than the canvas at a readable size
        assert page.get_by_role("button", name="Overview of the whole graph:").is_visible()
    finally:
        context.close()


def test_no_overview_when_the_whole_graph_is_in_view(browser, tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    with gradviz.trace(model) as t:
        model(torch.randn(2, 4)).sum().backward()
    context, page = _page(browser, _write(tmp_path / "small.html", t))
    try:
        assert page.locator(".gv-minimap").count() == 1
        assert page.locator(".gv-minimap").is_hidden()
        _uses_the_canvas(page, "small_whole")
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_first_views_use_the_canvas_at_a_projectors_scale(browser, tmp_path, scheme):
    """At display scale 1.5 every bound is 1.5 times larger (labels >= 13.5 px): the first views of the
    GPT-12 trace and its NaN trace still cut no node and fill the canvas."""
    for name, hook in (
        ("gpt12", lambda module, args, out: out.detach()),
        ("gpt12_nan", lambda module, args, out: torch.log(out)),
    ):
        torch.manual_seed(0)
        model = GPT()
        layer = model.blocks[5].mlp[0] if name == "gpt12" else model.blocks[8].mlp[1]
        layer.register_forward_hook(hook)
        t, _ = _traced(model, _batch())
        context, page = _page(browser, _write(tmp_path / f"{name}.html", t, scale=1.5), scheme)
        try:
            m = _uses_the_canvas(page, f"{name}_scale_1.5_{scheme}")
            assert m["label"] >= MIN_LABEL_PX * 1.5, m
            marker = page.locator("svg.gv-svg g.node.gv-cut, svg.gv-svg g.node.gv-birth")
            assert _inside(page, marker)
        finally:
            context.close()


@pytest.fixture(scope="module")
def watched_gpt12(tmp_path_factory):
    """Three steps of a 12-layer GPT under gradviz.watch, saved as a page."""
    torch.manual_seed(0)
    model = GPT()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = _batch()
    with gradviz.watch(model, optimizer=opt) as mon:
        for _ in range(3):
            loss = _step(model, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return mon.save_html(tmp_path_factory.mktemp("watch") / "watch_gpt12.html")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_watch_graph_tab_opens_framed(browser, watched_gpt12, scheme):
    """The Graph tab is drawn while hidden: when shown, its first view still cuts no node, uses the canvas
    and shows the model's output (the top of the drawing) whole."""
    context = browser.new_context(offline=True, viewport=VIEWPORT, color_scheme=scheme)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(watched_gpt12.resolve().as_uri())
        page.locator(".gradviz-watch").wait_for()
        page.get_by_role("tab", name="Graph").click()
        wait_for_draws(page.locator(".gradviz-root"), 1, timeout=120_000)
        page.wait_for_timeout(300)
        page.errors = errors
        _uses_the_canvas(page, f"watch_graph_{scheme}")
        assert _inside(page, page.locator("svg.gv-svg g.node.gv-loss"))
        assert page.locator("svg.gv-svg").evaluate(_CROSSINGS) == []
    finally:
        context.close()
