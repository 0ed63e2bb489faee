"""Finding things in the drawn widget (shared by the browser tests)."""

from __future__ import annotations

import os
import pathlib
import re

#: Screenshots and other artefacts of the browser tests (gitignored).
OUTPUT = pathlib.Path(__file__).resolve().parents[1] / "_output"
README_IMAGES = pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "images"


def open_watch_page(browser, path, width: int = 1280, height: int = 900, **options):
    """(context, page) of a saved watch page opened offline, drawn; ``page.errors`` collects its errors.
    ``options``: more of ``browser.new_context``'s (``color_scheme``)."""
    context = browser.new_context(offline=True, viewport={"width": width, "height": height}, **options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(pathlib.Path(path).resolve().as_uri())
    page.locator(".gradviz-watch").wait_for()
    page.errors = errors
    return context, page


def picture(name: str) -> pathlib.Path:
    """Where a test saves the picture ``name`` that README.md shows: ``tests/_output/`` (untracked) unless
    ``GRADVIZ_README_IMAGES=1`` asks to redraw the README's own copy (a test never changes tracked files
    on its own)."""
    if os.environ.get("GRADVIZ_README_IMAGES") == "1":
        return README_IMAGES / name
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT / name


def node(scope, node_id: str):
    """The graph node whose <title> is exactly ``node_id`` (has_text alone would match "p10" for "p1")."""
    page = getattr(scope, "page", scope)  # `has` takes a locator made from the page, not from scope
    title = page.locator("title", has_text=re.compile(f"^{re.escape(node_id)}$"))
    return scope.locator("svg.gv-svg g.node").filter(has=title)


def node_ids_filled(scope, color: str) -> list[str]:
    """Ids (exact <title> text) of the drawn nodes whose shape is filled with ``color``."""
    return scope.locator("svg.gv-svg").evaluate(
        """(svg, color) => [...svg.querySelectorAll("g.node")]
            .filter((g) => g.querySelector("polygon, path")?.getAttribute("fill") === color)
            .map((g) => g.querySelector("title").textContent)
            .sort()""",
        color,
    )


def wait_for_draws(root, count: int, timeout: float = 15_000) -> None:
    """Wait until the widget has finished ``count`` drawings (its data-draws counter)."""
    root.page.wait_for_function(
        "([el, n]) => Number(el.dataset.draws) >= n",
        arg=[root.element_handle(), count],
        timeout=timeout,
    )


# Contrast as WCAG 2 defines it, of each element's text against what is really behind it: the
# background colours of its ancestors composited from the first opaque one (rgba banners included).
_CONTRASTS = """
(els) => {
  const parse = (css) => {
    const v = (css.match(/[\\d.]+/g) ?? ["0", "0", "0", "0"]).map(Number);
    return css.startsWith("color(") ? { r: v[0] * 255, g: v[1] * 255, b: v[2] * 255, a: v[3] ?? 1 }
                                    : { r: v[0], g: v[1], b: v[2], a: v.length > 3 ? v[3] : 1 };
  };
  const over = (top, below) => ({
    r: top.r * top.a + below.r * (1 - top.a), g: top.g * top.a + below.g * (1 - top.a),
    b: top.b * top.a + below.b * (1 - top.a), a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c.a > 0) layers.push(c);
      if (c.a >= 1) break;
    }
    return layers.reverse().reduce((below, top) => over(top, below), { r: 255, g: 255, b: 255, a: 1 });
  };
  const lum = ({ r, g, b }) => {
    const f = (x) => ((x /= 255) <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  return els.map((el) => {
    const style = getComputedStyle(el);
    const bg = background(el instanceof SVGElement ? el.ownerSVGElement.parentElement : el);
    const ink = over(parse(el instanceof SVGElement ? style.fill : style.color), bg);
    const [hi, lo] = [lum(ink), lum(bg)].sort((a, b) => b - a);
    return { text: el.textContent.trim().slice(0, 40), contrast: (hi + 0.05) / (lo + 0.05) };
  });
}
"""


def contrasts(locator) -> list[dict]:
    """[{text, contrast}] for every element ``locator`` matches (HTML text colour, or SVG text fill)."""
    return locator.evaluate_all(_CONTRASTS)
