"""The what-if toggle of a ✂ cut marker (issue 21 point 2, the widget), in Chromium on saved pages
(``Trace.save_html``): tutorial 01's silent ``.detach()`` (section 3.3), a 12-layer GPT with one stray
``.detach()`` in block 5, and two cuts in a row (what the first alone keeps: nothing; the reason on hover).

Each time, the parameters drawn "would be reached" are exactly those plain torch gives a gradient once
that cut is really removed (the same model and step, on a deep copy, with the detach taken out) and not
with it; toggling back gives the drawing back exactly as it was. Leaves screenshots (toggled on and off,
toy and GPT-12 scale, light and dark) in tests/_output/whatif_*.png.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from browser_helpers import OUTPUT, node, wait_for_draws
from torch import nn

import gradviz
from gradviz._demos.gpt import Block
from gradviz.view._state import build_state

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORT = {"width": 1280, "height": 900}
REACHED = "svg.gv-svg g.node:is(.gv-whatif-reached, .gv-whatif-partly)"


# -- the models: each with its cut, and the same model with the cut really removed -----------------------


class EncoderHead(nn.Module):
    """Tutorial 01, section 3.3: a .detach() copied from a "stop-gradient" recipe."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        h = torch.tanh(self.encoder(x))
        h = h.detach()  # copied from a "stop-gradient" recipe
        return self.head(h)


class EncoderHeadUncut(EncoderHead):
    def forward(self, x):
        return self.head(torch.tanh(self.encoder(x)))


class StrayBlock(Block):
    """The tutorials' transformer block with one stray .detach() on its MLP branch."""

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.ln2(x)).detach()  # the stray detach


class GPT(nn.Module):
    def __init__(self, n_layer=12, d=64, n_head=4, vocab=64, seq=32, stray=5):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(seq, d)
        make = [StrayBlock if i == stray else Block for i in range(n_layer)]
        self.blocks = nn.ModuleList(cls(d, n_head) for cls in make)
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def _uncut_gpt(model: GPT) -> GPT:
    plain = copy.deepcopy(model)
    for block in plain.blocks:
        block.__class__ = Block  # the stray detach taken out; the same weights
    return plain


class TwoCuts(nn.Module):
    """A .detach() and, after it, a no_grad: removing the detach alone reaches nothing."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 8)
        self.mid = nn.Linear(8, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        h = self.enc(x).detach()
        h = self.mid(h)
        with torch.no_grad():
            h = h * 1.0
        return self.head(h)


class TwoCutsUncut(TwoCuts):
    def forward(self, x):
        h = self.mid(self.enc(x))
        with torch.no_grad():
            h = h * 1.0
        return self.head(h)


def _grads(model: nn.Module, step) -> set[str]:
    """The parameters plain torch gives a gradient in one step of ``model`` (a deep copy runs it)."""
    model = copy.deepcopy(model)
    step(model).backward()
    return {name for name, p in model.named_parameters() if p.grad is not None}


def _page(tmp, name, model, step, uncut):
    """The saved page of one traced step, and the truth: what removing the cut really reaches."""
    now = _grads(model, step)
    without = _grads(uncut(model), step)
    with gradviz.trace(model) as t:
        step(model).backward()
    path = t.save_html(tmp / f"{name}.html")
    graph, _, _ = build_state(t.capture, t.verdicts)
    names = {n["id"]: n["tensor"]["name"] for n in graph["nodes"] if n["kind"] == "param"}
    cuts = [n["id"] for n in graph["nodes"] if n["kind"] == "cut"]
    return {"path": path, "names": names, "cuts": cuts, "trace": t, "truth": without - now}


def _retype(cls):
    def uncut(model):
        plain = copy.deepcopy(model)
        plain.__class__ = cls
        return plain

    return uncut


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("whatif")
    torch.manual_seed(0)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    toy = _page(tmp, "tutorial01", EncoderHead(), lambda m: F.mse_loss(m(x), y), _retype(EncoderHeadUncut))
    torch.manual_seed(0)
    tokens = torch.randint(64, (4, 33))
    idx, targets = tokens[:, :-1], tokens[:, 1:]
    gpt = _page(
        tmp,
        "gpt12",
        GPT(),
        lambda m: F.cross_entropy(m(idx).flatten(0, 1), targets.flatten()),
        _uncut_gpt,
    )
    torch.manual_seed(0)
    two = _page(tmp, "two_cuts", TwoCuts(), lambda m: m(x).sum(), _retype(TwoCutsUncut))
    return {"toy": toy, "gpt": gpt, "two": two}


def test_the_truth_is_what_the_tutorial_and_the_gpt_say(pages):
    """Guards the fixtures: the cut really keeps these parameters from learning."""
    assert pages["toy"]["truth"] == {"encoder.weight", "encoder.bias"}
    assert pages["gpt"]["truth"] == {
        f"blocks.5.{p}"
        for p in ("ln2.weight", "ln2.bias", "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias")
    }
    assert pages["two"]["truth"] == set()
    for page in pages.values():
        assert len(page["cuts"]) >= 1


# -- driving the page ------------------------------------------------------------------------------------


def _open(browser, path, scheme="light"):
    context = browser.new_context(offline=True, viewport=VIEWPORT, color_scheme=scheme)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.resolve().as_uri())
    wait_for_draws(page.locator(".gradviz-root"), 1, timeout=120_000)
    page.errors = errors
    return context, page


def _select(page, node_id: str) -> None:
    """Open node ``node_id``'s inspector (through the search box's link when it is not drawn as itself)."""
    if node(page, node_id).count():
        node(page, node_id).click()
    page.wait_for_function(
        "(id) => document.querySelector('.gv-selected > title')?.textContent === id", arg=node_id
    )


def _drawn_reached(page, names: dict[str, str]) -> set[str]:
    """The parameters the drawing says would be reached: a node drawn so, or the members a box says."""
    found: set[str] = set()
    for title, ids in page.locator(REACHED).evaluate_all(
        "(gs) => gs.map((g) => [g.querySelector(':scope > title').textContent, g.dataset.gvReached ?? ''])"
    ):
        found |= {names[i] for i in ids.split()} if title not in names else {names[title]}
        if title in names:
            assert ids == title  # a parameter drawn as itself speaks only for itself
    return found


def _toggle(page, on: bool) -> None:
    button = page.locator(".gv-inspector .gv-whatif-toggle")
    assert button.inner_text() == ("What if this cut were removed?" if on else "Put the cut back")
    assert button.get_attribute("aria-pressed") == ("false" if on else "true")
    button.click()
    want = "true" if on else "false"
    page.wait_for_function(
        "(w) => document.querySelector('.gv-whatif-toggle')?.getAttribute('aria-pressed') === w", arg=want
    )


def _svg(page) -> str:
    return page.locator("svg.gv-svg").evaluate("(svg) => svg.outerHTML")


def _check_toggle(page, data, cut: str, shot: str) -> None:
    """Toggle ``cut`` off: the drawn "would be reached" set is plain torch's; then back: the same drawing."""
    _select(page, cut)
    before = _svg(page)
    legend = page.locator(".gv-legend-whatif")
    assert legend.count() == 0
    _toggle(page, on=True)
    assert _drawn_reached(page, data["names"]) == data["truth"]
    assert "gv-whatif-off" in node(page, cut).get_attribute("class")
    assert legend.inner_text().startswith("would be reached without the cut (can still get a zero gradient)")
    page.screenshot(path=str(OUTPUT / f"{shot}_on.png"))
    _toggle(page, on=False)
    assert _svg(page) == before  # exactly the drawing before
    assert legend.count() == 0
    page.screenshot(path=str(OUTPUT / f"{shot}_off.png"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_tutorial_01s_detach_toggled_off_reaches_what_torch_reaches(browser, pages, scheme):
    data = pages["toy"]
    OUTPUT.mkdir(exist_ok=True)
    context, page = _open(browser, data["path"], scheme)
    try:
        (cut,) = data["cuts"]
        _check_toggle(page, data, cut, f"whatif_tutorial01_{scheme}")
        assert page.errors == []
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_gpt12s_stray_detach_toggled_off_reaches_what_torch_reaches(browser, pages, scheme):
    data = pages["gpt"]
    context, page = _open(browser, data["path"], scheme)
    try:
        (cut,) = data["cuts"]
        # the first view opens its inspector on the cut: its what-if is there, with the toggle
        assert page.locator(".gv-inspector .gv-whatif-toggle").count() == 1
        _check_toggle(page, data, cut, f"whatif_gpt12_{scheme}")
        assert page.errors == []
    finally:
        context.close()


def test_the_what_if_stays_through_redraws_and_only_problems(browser, pages):
    """Drawing the group's members one by one, and "Only problems", keep the what-if, exactly."""
    data = pages["gpt"]
    (cut,) = data["cuts"]
    context, page = _open(browser, data["path"])
    root = page.locator(".gradviz-root")
    try:
        _select(page, cut)
        _toggle(page, on=True)
        group = page.locator("svg.gv-svg g.node.gv-group")
        assert group.count() == 1 and "gv-whatif-reached" in group.get_attribute("class")
        group.click()
        note = page.locator(".gv-inspector .gv-whatif-note").inner_text()
        assert note.startswith("6 of these 6 would be reached without the cut")
        draws = int(root.get_attribute("data-draws"))
        page.get_by_role("button", name="Draw each parameter").click()
        wait_for_draws(root, draws + 1, timeout=60_000)
        drawn = page.locator("svg.gv-svg g.node.gv-whatif-reached > title").all_text_contents()
        assert {data["names"][i] for i in drawn} == data["truth"]  # each parameter, drawn as itself
        draws = int(root.get_attribute("data-draws"))
        page.get_by_label("Only problems").check()
        wait_for_draws(root, draws + 1, timeout=60_000)
        assert _drawn_reached(page, data["names"]) == data["truth"]
        page.screenshot(path=str(OUTPUT / "whatif_gpt12_only_problems_on.png"))
        _select(page, cut)
        _toggle(page, on=False)
        assert page.locator("[data-gv-whatif]").count() == 0
        assert root.get_attribute("data-whatif") == ""
    finally:
        context.close()


def test_a_cut_behind_another_keeps_its_red_and_says_why(browser, pages):
    """Removing the .detach() alone reaches nothing (a no_grad follows it): none drawn reached, the red
    parameters keep their colour and give the reason on hover and in the inspector."""
    data = pages["two"]
    context, page = _open(browser, data["path"])
    try:
        cut = data["cuts"][0]
        _select(page, cut)
        assert ".detach()" in page.locator(".gv-inspector .gv-name").inner_text()
        before = _svg(page)
        _toggle(page, on=True)
        assert _drawn_reached(page, data["names"]) == data["truth"] == set()
        enc = [i for i, name in data["names"].items() if name.startswith("enc.")]
        for i in enc:
            g = node(page, i)
            assert "gv-whatif-still" in g.get_attribute("class")
            tip = g.locator("polygon > title, path > title").first.text_content()
            assert "still not reached without the cut: another cut stops it too: gradients off at" in tip
        inspector = page.locator(".gv-inspector").text_content()
        assert "Still not reached (2)" in inspector
        node(page, enc[0]).click()
        assert (
            page.locator(".gv-inspector .gv-whatif-note")
            .inner_text()
            .startswith("Still not reached without the cut")
        )
        page.screenshot(path=str(OUTPUT / "whatif_two_cuts_on.png"))
        _select(page, cut)
        _toggle(page, on=False)
        assert _svg(page) == before
    finally:
        context.close()


def test_the_toggle_is_a_button_the_keyboard_reaches(browser, pages):
    data = pages["toy"]
    (cut,) = data["cuts"]
    context, page = _open(browser, data["path"])
    try:
        _select(page, cut)
        button = page.locator(".gv-inspector .gv-whatif-toggle")
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('.gradviz-root').dataset.whatif !== ''")
        focused = page.evaluate("() => document.activeElement.textContent")
        assert focused == "Put the cut back"  # the redrawn inspector keeps the focus on the toggle
        page.keyboard.press("Space")
        page.wait_for_function("() => document.querySelector('.gradviz-root').dataset.whatif === ''")
        assert page.locator("[data-gv-whatif]").count() == 0
    finally:
        context.close()
