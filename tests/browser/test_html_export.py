"""The standalone page from ``write_html``: opened from file:// with the network off, it draws the
graph, colours exactly the disconnected parameters red, and explains them on click; it is small (the
bundle is gzip-compressed), follows the reader's dark preference, zooms with Ctrl + wheel or after a
click, and downloads the drawing as SVG and PNG."""

from __future__ import annotations

import base64
import json
import pathlib
import re
import struct
import xml.etree.ElementTree as ET

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
    assert "gv-selected" in node(page, "p0").get_attribute("class").split()


@pytest.mark.browser
def test_search_jumps_to_a_parameter_by_exact_name(page):
    search = page.get_by_placeholder("Find a parameter, op or module")
    search.fill("head.bias")
    assert page.locator(".gv-results .gv-result").first.inner_text().startswith("head.bias")
    search.press("Enter")
    assert page.locator(".gv-inspector .gv-name").inner_text() == "head.bias"
    assert "gv-selected" in node(page, "g6").get_attribute("class").split()


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


def _scale(page) -> float:
    return page.locator("svg.gv-svg").evaluate("svg => svg.getScreenCTM().a")


@pytest.mark.browser
def test_a_plain_wheel_scrolls_the_page_ctrl_wheel_or_a_click_first_zooms(page):
    svg = page.locator("svg.gv-svg")
    fitted = svg.get_attribute("viewBox")
    page.evaluate("document.body.style.height = '4000px'")  # something to scroll
    svg.hover()
    page.mouse.wheel(0, 300)
    page.wait_for_function("window.scrollY > 0")
    assert svg.get_attribute("viewBox") == fitted
    assert "Ctrl" in page.locator(".gv-notice").inner_text()
    svg.hover()  # the page moved under the pointer
    page.keyboard.down("Control")
    page.mouse.wheel(0, -400)
    page.keyboard.up("Control")
    zoomed = svg.get_attribute("viewBox")
    assert float(zoomed.split()[2]) < float(fitted.split()[2])
    page.get_by_role("button", name="Fit").click()
    assert svg.get_attribute("viewBox") == fitted
    box = page.locator(".gv-canvas").bounding_box()
    page.mouse.click(box["x"] + 5, box["y"] + 5)  # empty canvas: arms the wheel, selects nothing
    scroll = page.evaluate("window.scrollY")
    page.mouse.wheel(0, -400)
    assert float(svg.get_attribute("viewBox").split()[2]) < float(fitted.split()[2])
    assert page.evaluate("window.scrollY") == scroll


@pytest.mark.browser
def test_zooming_out_stops_where_labels_would_drop_below_9_px(page):
    svg = page.locator("svg.gv-svg")
    svg.hover()
    page.keyboard.down("Control")
    for _ in range(10):
        page.mouse.wheel(0, 800)
    page.keyboard.up("Control")
    sizes = page.locator("svg.gv-svg text").evaluate_all(
        "(texts) => texts.map((t) => Number(t.getAttribute('font-size')) * t.getScreenCTM().a)"
    )
    assert min(sizes) >= 9


@pytest.mark.browser
def test_a_small_page_is_under_1_5_mb(state, tmp_path):
    path = write_html(
        tmp_path / "trace.html",
        state["graph"],
        base64.b64decode(state["edge_norms"]),
        base64.b64decode(state["hists"]),
        title="small",
    )
    assert path.stat().st_size < 1_500_000


@pytest.mark.browser
def test_the_page_follows_a_dark_preference(browser, state, tmp_path):
    path = write_html(
        tmp_path / "trace.html",
        state["graph"],
        base64.b64decode(state["edge_norms"]),
        base64.b64decode(state["hists"]),
        title="dark",
    )
    colors = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(offline=True, color_scheme=scheme)
        try:
            page = context.new_page()
            page.goto(path.resolve().as_uri())
            root = page.locator(".gradviz-root")
            wait_for_draws(root, 1)
            colors[scheme] = root.evaluate(
                """(el) => {
                  const style = getComputedStyle(el);
                  const op = el.querySelector("g.node.gv-op path, g.node.gv-op polygon");
                  const title = el.querySelector("g.cluster > text");
                  return { bg: style.backgroundColor, ink: style.color, op: getComputedStyle(op).fill,
                           title: getComputedStyle(title).fill };
                }"""
            )
        finally:
            context.close()
    light, dark = colors["light"], colors["dark"]
    assert _luminance(light["bg"]) > 0.9 and _luminance(dark["bg"]) < 0.05
    assert _luminance(dark["ink"]) > 0.5 and _luminance(dark["op"]) < 0.1
    assert _contrast(dark["title"], dark["bg"]) >= 4.5 and _contrast(light["title"], light["bg"]) >= 4.5


@pytest.mark.browser
def test_the_drawing_downloads_as_svg_and_png(page, state, tmp_path):
    with page.expect_download() as svg_download:
        page.get_by_role("button", name="⤓ SVG").click()
    svg_file = svg_download.value
    assert svg_file.suggested_filename == "gradviz-Net.svg"
    svg = pathlib.Path(svg_file.path()).read_text(encoding="utf-8")
    root = ET.fromstring(svg)
    titles = sorted(t.text for t in root.iter("{http://www.w3.org/2000/svg}title") if t.text in _ids(state))
    assert titles == sorted(_ids(state))  # the whole drawing, not only what the view shows
    assert "gv-selected" not in svg
    with page.expect_download() as png_download:
        page.get_by_role("button", name="⤓ PNG").click()
    png = pathlib.Path(png_download.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (2 * int(root.get("width")), 2 * int(root.get("height")))


def _ids(state) -> list[str]:
    return [n["id"] for n in state["graph"]["nodes"]]


def _channels(css: str) -> list[float]:
    values = [float(v) for v in re.findall(r"[\d.]+", css)]
    rgb = [v / 255 for v in values[:3]]
    alpha = values[3] if len(values) > 3 else 1.0
    return [c * alpha + (1 - alpha) * 0 for c in rgb] if alpha < 1 else rgb


def _luminance(css: str) -> float:
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in _channels(css)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


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
