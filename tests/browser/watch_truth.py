"""Truth from plain torch for the watch browser tests, and colour measurements in the page.

``replay`` trains a fresh copy of a seeded run with no gradviz at all and reads every ``.grad`` at every
optimizer step, as ``tests/view/test_watch_summary.py`` does for the text views.
"""

from __future__ import annotations

import numpy as np
import torch

from gradviz._demos.training import Run
from gradviz.records import GradState

VANISH = 1e-7  # gradviz.view._watch_summary.VANISH


def grad_state(p: torch.Tensor) -> int:
    if p.grad is None:
        return int(GradState.none)
    if not torch.isfinite(p.grad).all():
        return int(GradState.nonfinite)
    return int(GradState.zero) if bool((p.grad == 0).all()) else int(GradState.finite)


def replay(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """States and norms of every .grad at every optimizer step of ``run``, trained in plain torch."""
    params = list(run.model.parameters())
    states, norms = [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the demos train
    try:
        for _ in range(run.steps):
            loss = run.loss_fn(run.model(run.X), run.Y)
            run.optimizer.zero_grad()
            loss.backward()
            states.append([grad_state(p) for p in params])
            norms.append([float(p.grad.double().norm()) if p.grad is not None else np.nan for p in params])
            run.optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return np.array(states, np.uint8), np.array(norms)


def all_learn(states: np.ndarray, norms: np.ndarray) -> bool:
    """Every parameter got a finite gradient at least VANISH (these runs freeze nothing, hold everything)."""
    return bool((states == GradState.finite).all() and (norms >= VANISH).all())


# Resolves to [[r, g, b], ...] (0-255, opaque) of the text colour and of the background behind each
# element matched by `selector` under `root`: the canvas turns any CSS colour (rgb(), color-mix(), ...)
# into pixels, and translucent backgrounds are composited over their ancestors'.
COLORS = """(root, selector) => {
    const ctx = document.createElement("canvas").getContext("2d", { willReadFrequently: true });
    const rgba = (css) => {
        ctx.clearRect(0, 0, 1, 1);
        ctx.fillStyle = "rgba(0, 0, 0, 0)";
        ctx.fillStyle = css;
        ctx.fillRect(0, 0, 1, 1);
        const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
        return [r, g, b, a / 255];
    };
    const over = (top, bottom) => top.slice(0, 3).map((c, i) => c * top[3] + bottom[i] * (1 - top[3]));
    const background = (el) => {
        const layers = [];
        for (let e = el; e; e = e.parentElement) {
            const c = rgba(getComputedStyle(e).backgroundColor);
            if (c[3] > 0) layers.push(c);
            if (c[3] >= 1) break;
        }
        let color = [255, 255, 255];
        for (const layer of layers.reverse()) color = over(layer, color);
        return color;
    };
    return [...root.querySelectorAll(selector)].filter((el) => el.getClientRects().length).map((el) => {
        const bg = background(el);
        const style = getComputedStyle(el);
        const ink = over(rgba(el instanceof SVGElement ? style.fill : style.color), bg); // SVG text: its fill
        return { text: (el.textContent || "").trim().slice(0, 40), ink, bg };
    });
}"""


def contrast(a, b) -> float:
    """WCAG contrast ratio of two sRGB colours (0-255)."""

    def luminance(rgb) -> float:
        c = np.asarray(rgb, float) / 255
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])

    hi, lo = sorted([luminance(a), luminance(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def low_contrast(root, selectors: list[str], minimum: float = 4.5) -> list[tuple[str, str, float]]:
    """(selector, text, ratio) of every visible element under ``root`` (a locator) whose text reads below
    ``minimum`` on its background."""
    bad = []
    for selector in selectors:
        found = root.evaluate(COLORS, selector)
        assert found, f"nothing visible matches {selector}"
        for item in found:
            ratio = contrast(item["ink"], item["bg"])
            if ratio < minimum:
                bad.append((selector, item["text"], round(ratio, 2)))
    return bad
