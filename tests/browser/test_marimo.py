"""marimo: a small app (tests/marimo/trace_app.py) that shows a trace through ``mo.ui.anywidget``, served by
``marimo run`` on 127.0.0.1 and drawn in Debian's Chromium: the encoder cut by ``.detach()`` is red, a
click explains it, and the page asks nothing of the network beyond the local server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from browser_helpers import OUTPUT, node, node_ids_filled, wait_for_draws
from torch import nn

import gradviz

marimo = pytest.importorskip("marimo")

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "marimo" / "trace_app.py"
STARTUP = 60  # seconds for the server to answer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    home = tmp_path_factory.mktemp("marimo-home")
    env = {**os.environ, "HOME": str(home), "MARIMO_SKIP_UPDATE_CHECK": "1", "XDG_CONFIG_HOME": str(home)}
    cmd = [
        sys.executable, "-m", "marimo", "-q", "run", str(APP), "--headless", "--no-sandbox",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    log = open(home / "marimo.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + STARTUP
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"marimo did not serve the app:\n{(home / 'marimo.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _truth() -> dict:
    """The app's model and step, here: plain torch says which parameters get no gradient."""
    torch.manual_seed(0)
    enc, head = nn.Linear(4, 8), nn.Linear(8, 1)
    head(enc(torch.randn(16, 4)).relu().detach()).pow(2).mean().backward()
    return {"enc.weight": enc.weight.grad, "enc.bias": enc.bias.grad, "head.weight": head.weight.grad}


def _red() -> str:
    """The colour gradviz draws "will not learn" in."""
    lin = nn.Linear(1, 1)
    with gradviz.trace(lin) as t:
        lin(torch.ones(1, 1)).sum().backward()
    return t.widget().graph["palette"]["red"]


@pytest.mark.browser
def test_the_trace_widget_draws_in_a_marimo_app(browser, server) -> None:
    truth = _truth()
    assert truth["enc.weight"] is None and truth["enc.bias"] is None and truth["head.weight"] is not None
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server)
        root = page.locator(".gradviz-root")
        root.wait_for(timeout=60_000)
        wait_for_draws(root, 1, timeout=60_000)
        red = node_ids_filled(page, _red())
        assert len(red) == 2  # enc.weight and enc.bias, the parameters torch gives no gradient
        node(page, red[0]).click()
        inspector = page.locator(".gv-inspector")
        assert inspector.locator(".gv-badge").inner_text() == "detach"
        assert inspector.locator(".gv-name").inner_text() in ("enc.weight", "enc.bias")
        assert "trace_app.py" in inspector.inner_text()
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "marimo_trace.png"))
        assert errors == []
        local = ("http://127.0.0.1", "ws://127.0.0.1", "blob:", "data:")
        assert [u for u in requests if not u.startswith(local)] == []
    finally:
        context.close()
