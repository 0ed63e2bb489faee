"""The standalone page from ``write_html``: opened from file:// with the network off, it draws the
graph, colours exactly the disconnected parameters red, and explains them on click."""

from __future__ import annotations

import base64
import json
import pathlib

import pytest
from browser_helpers import node, node_ids_filled, wait_for_draws

from gradviz.view._html import write_html

FIXTURE = pathlib.Path(__file__).with_name("fixtures") / "small_model.json"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def state() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def test_inlined_bundle_and_state_cannot_end_their_script_element(state, tmp_path):
    graph = {**state["graph"], "title": "</script><script>alert(1)</script> <!-- x"}
    path = write_html(tmp_path / "t.html", graph, b"\x00\x00\xc0\x7f", b"", title=graph["title"])
    page = path.read_text(encoding="utf-8")
    assert page.count("</script") == 2  # the two elements' own closing tags
    assert "<!--" not in page
    assert "<title>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &lt;!-- x</title>" in page


@pytest.fixture
def page(browser, state, tmp_path):
    path = write_html(
        tmp_path / "trace.html",
        state["graph"],
        base64.b64decode(state["edge_norms"]),
        base64.b64decode(state["hists"]),
        title=state["graph"]["title"],
    )
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    seen = {"requests": [], "dialogs": [], "errors": []}
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.goto(path.resolve().as_uri())
    root = page.locator(".gradviz-root")
    wait_for_draws(root, 1)
    page.seen = seen
    yield page
    context.close()


@pytest.mark.browser
def test_draws_offline_with_no_request_and_no_script_injection(page, state):
    drawn = page.locator("svg.gv-svg g.node title").all_text_contents()
    assert sorted(drawn) == sorted(n["id"] for n in state["graph"]["nodes"])
    assert [u for u in page.seen["requests"] if not u.startswith(("file:", "blob:", "data:"))] == []
    assert page.seen["dialogs"] == []
    assert page.seen["errors"] == []
    assert page.locator("img").count() == 0
    assert page.get_by_text(f"▾ {HOSTILE} · Linear", exact=True).count() == 1


@pytest.mark.browser
def test_red_nodes_are_exactly_the_disconnected_parameters(page, state):
    assert node_ids_filled(page, state["graph"]["palette"]["red"]) == ["p0", "p1"]


@pytest.mark.browser
def test_click_a_red_parameter_shows_cause_where_and_fix(page, state):
    verdict = next(v for v in state["graph"]["verdicts"] if v["name"] == "enc.weight")
    node(page, "p0").click()
    inspector = page.locator(".gv-inspector")
    assert inspector.locator(".gv-name").inner_text() == "enc.weight"
    assert inspector.locator(".gv-badge").inner_text() == verdict["cause"] == "detach"
    text = inspector.inner_text()
    assert verdict["message"] in text
    assert f"Where\n{verdict['where']}" in text or f"Where\t{verdict['where']}" in text
    assert inspector.locator(".gv-code").inner_text() == "h = self.enc(x).detach()"
    assert verdict["fix"] in text
    assert node(page, "p0").get_attribute("class") == "node gv-selected"


@pytest.mark.browser
def test_search_jumps_to_a_parameter_by_exact_name(page):
    search = page.get_by_placeholder("Find a parameter, op or module")
    search.fill("head.bias")
    assert page.locator(".gv-results .gv-result").first.inner_text().startswith("head.bias")
    search.press("Enter")
    assert page.locator(".gv-inspector .gv-name").inner_text() == "head.bias"
    assert node(page, "g6").get_attribute("class") == "node gv-selected"


@pytest.mark.browser
def test_collapse_and_expand_a_module_by_its_box_title(page):
    root = page.locator(".gradviz-root")
    page.locator("svg.gv-svg g.cluster text", has_text="▾ head · Linear").click()
    wait_for_draws(root, 2)
    assert node(page, "g4").count() == 0
    collapsed = page.locator("svg.gv-svg g.node", has_text="▸ head")
    assert collapsed.count() == 1
    collapsed.click()
    wait_for_draws(root, 3)
    assert node(page, "g4").count() == 1


@pytest.mark.browser
def test_only_problems_keeps_the_cut_path(page):
    root = page.locator(".gradviz-root")
    page.get_by_label("Only problems").check()
    wait_for_draws(root, 2)
    drawn = sorted(page.locator("svg.gv-svg g.node title").all_text_contents())
    assert drawn == ["c0", "g0", "g1", "g2", "g4", "p0", "p1"]


@pytest.mark.browser
def test_zoom_and_fit(page):
    svg = page.locator("svg.gv-svg")
    fitted = svg.get_attribute("viewBox")
    svg.hover()
    page.mouse.wheel(0, -400)
    zoomed = svg.get_attribute("viewBox")
    assert float(zoomed.split()[2]) < float(fitted.split()[2])
    page.get_by_role("button", name="Fit").click()
    assert svg.get_attribute("viewBox") == fitted


@pytest.mark.browser
def test_a_layout_failure_shows_a_message_not_a_blank_box(browser, state, tmp_path):
    path = write_html(
        tmp_path / "trace.html",
        state["graph"],
        base64.b64decode(state["edge_norms"]),
        base64.b64decode(state["hists"]),
        title="no workers",
    )
    context = browser.new_context(offline=True)
    try:
        page = context.new_page()
        page.add_init_script("window.Worker = undefined;")  # as under a CSP that forbids workers
        page.goto(path.resolve().as_uri())
        overlay = page.locator(".gv-overlay-error")
        overlay.wait_for(timeout=15_000)
        assert "Could not lay out the graph: Could not start the layout worker" in overlay.inner_text()
        assert overlay.get_by_role("button", name="Try again").is_visible()
    finally:
        context.close()
