"""Watch view, live: how long a pushed update and a step change take in headless Chromium.

A run of 2,048 steps x 300 parameters (600k cells) is drawn on the standalone watch page; then the
kernel-side update (every trait set, the redraw it triggers) and 20 slider moves are timed in the page.
Prints the median and worst of ``--rounds`` rounds. Measured on 0.2 (2 cores): ~70 ms per update, ~2 ms
per step change. (tests/browser/test_watch_view.py checks what these draw, not how fast.)

    python benchmarks/watch_view_update.py [--rounds 5]

Needs the built bundle (npm --prefix js run build), Playwright and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import base64
import pathlib
import statistics
import sys
import tempfile

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gradviz import GradState, History  # noqa: E402
from gradviz.view import build_watch_state, write_watch_html  # noqa: E402

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARRAYS = ("steps", "grad_norm", "param_norm", "update_ratio", "state")
SET_TRAITS = """async (el, [json, b64]) => {
    const view = (text) => new DataView(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)).buffer);
    const decoded = Object.entries(b64).map(([key, text]) => [key, view(text)]);
    const t0 = performance.now();
    for (const [key, value] of Object.entries(json)) el.gradvizModel.set(key, value);
    for (const [key, value] of decoded) el.gradvizModel.set(key, value);
    await Promise.resolve();
    return performance.now() - t0;
}"""
STEP_CHANGES = """(slider) => Array.from({ length: 20 }, (_, i) => {
    const t0 = performance.now();
    slider.value = String(900 + i);
    slider.dispatchEvent(new Event("input"));
    return performance.now() - t0;
})"""


def big_history(rows: int, params: int = 300) -> History:
    parts = ["attn.q", "attn.k", "attn.v", "mlp.fc1", "mlp.fc2", "norm"]
    names = [f"layers.{i // 6}.{parts[i % 6]}.weight" for i in range(params)]
    grad = (10 ** np.random.default_rng(rows).uniform(-6, 1, (rows, params))).astype(np.float32)
    state = np.full(grad.shape, int(GradState.finite), np.uint8)
    grad[rows // 2], state[rows // 2] = np.inf, int(GradState.nonfinite)
    return History(np.arange(rows), names, grad, grad, grad, state, first_nonfinite=(rows // 2, names[0]))


def one_round(browser, scratch: pathlib.Path) -> tuple[float, list[float]]:
    page_path = write_watch_html(scratch / "big.html", build_watch_state(big_history(2032), live=True), "big")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.goto(page_path.as_uri())
        page.wait_for_selector(".gv-hm-canvas")
        state = build_watch_state(big_history(2048), live=True)
        b64 = {key: base64.b64encode(state[key]).decode() for key in ARRAYS}
        update = page.locator("#gradviz").evaluate(SET_TRAITS, [{"timeline": state["timeline"]}, b64])
        steps = page.locator(".gv-slider").evaluate(STEP_CHANGES)
        return float(update), [float(s) for s in steps]
    finally:
        page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    updates, steps = [], []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            for _ in range(args.rounds):
                update, step = one_round(browser, pathlib.Path(tmp))
                updates.append(update)
                steps.append(max(step))
        finally:
            browser.close()
    print("watch view, 2,048 steps x 300 parameters    median      worst")
    print(
        f"  live update (all traits, one redraw)  {statistics.median(updates):8.1f} ms {max(updates):8.1f} ms"
    )
    print(f"  step change (slowest of 20 per round) {statistics.median(steps):8.1f} ms {max(steps):8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
