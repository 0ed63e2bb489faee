"""The path every user takes: a wheel, installed with pip into a clean venv where there is no Node.

- The wheel is built from this checkout (its bundle is already built, so no npm runs) and must carry the
  bundle; it is installed into a new venv (torch==2.13.0 from pip's cache on this disk, then the wheel and
  its dependencies) with ``PATH`` holding only that venv; there gradviz is imported, traces a tiny model
  and writes a page, which Debian's Chromium then draws (offline).
- The sdist carries js/ without node_modules or the bundle; a wheel built from it runs ``npm ci``, which
  leaves js/package-lock.json byte for byte as committed, and says on the terminal what it does.
- The run reader's crc32 scanner (gradviz/runlog/_crcscan.c) is compiled into every wheel built where a C
  compiler is (a wheel for this platform); where none is, the wheel is pure Python and says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pty
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import torch
from browser.browser_helpers import OUTPUT
from browser.conftest import CHROMIUM
from torch import nn

pytestmark = [pytest.mark.packaging, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TORCH = "torch==2.13.0"

SCRIPT = r"""
import json, shutil, sys
import torch
from torch import nn
import gradviz

assert shutil.which("node") is None and shutil.which("npm") is None, "node is on PATH"

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.enc(x).relu().detach())

torch.manual_seed(0)
model = Net()
with gradviz.trace(model) as t:
    model(torch.randn(16, 4)).pow(2).mean().backward()
t.save_html(sys.argv[1])
graph = t.widget().graph
from gradviz.runlog import _rolling
print(json.dumps({
    "file": gradviz.__file__,
    "compiled_scanner": _rolling.NATIVE,
    "verdicts": {k: v.cause.value for k, v in t.verdicts.items()},
    "red": graph["palette"]["red"],
    "red_params": sorted(n["id"] for n in graph["nodes"] if n["kind"] == "param" and n["severity"] == "red"),
}))
"""


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, **kw)
    assert done.returncode == 0, (
        f"{cmd} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", out, ROOT])
    (whl,) = out.glob("torch_gradviz-*.whl")
    return whl


def test_the_wheel_carries_the_bundle_and_the_distribution_name(wheel) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        bundle = zf.getinfo("gradviz/static/widget.js").file_size
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = zf.read(meta).decode()
    assert bundle > 500_000  # Graphviz-WASM is inlined
    assert {"gradviz/__init__.py", "gradviz/py.typed", "gradviz/integrations/transformers.py"} <= names
    assert not any(n.startswith(("js/", "tests/", "notebooks/")) for n in names)
    assert "Name: torch-gradviz\n" in metadata
    assert "Provides-Extra: notebook" in metadata and "notebook>=7; extra == 'notebook'" in metadata
    # the crc32 scanner, compiled for this Python (.ci/run's machine has gcc), and the wheel tagged so
    assert {n for n in names if n.startswith("gradviz/runlog/_crcscan")} == {
        "gradviz/runlog/_crcscan.c",
        f"gradviz/runlog/_crcscan{sysconfig.get_config_var('EXT_SUFFIX')}",
        "gradviz/runlog/_crcscan.pyi",
    }
    assert not wheel.name.endswith("-none-any.whl"), wheel.name


@pytest.fixture(scope="module")
def clean_venv(wheel, tmp_path_factory) -> tuple[Path, dict]:
    venv = tmp_path_factory.mktemp("clean") / "venv"
    run([sys.executable, "-m", "venv", venv])
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = str(venv / "bin")  # nothing else: no node, no npm
    assert shutil.which("node", path=env["PATH"]) is None
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    start = time.monotonic()
    run([*pip, TORCH], env=env)
    torch_s = time.monotonic() - start
    start = time.monotonic()
    run([*pip, wheel], env=env)
    wheel_s = time.monotonic() - start
    OUTPUT.mkdir(exist_ok=True)
    timing = {"torch_install_s": round(torch_s, 1), "wheel_install_s": round(wheel_s, 1)}
    (OUTPUT / "wheel_install_times.json").write_text(json.dumps(timing) + "\n")
    return venv, env


def test_the_wheel_works_without_node_and_its_page_draws_in_chromium(clean_venv, tmp_path) -> None:
    venv, env = clean_venv
    page_path = tmp_path / "trace.html"
    done = run([venv / "bin" / "python", "-c", SCRIPT, page_path], env=env, cwd=tmp_path)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["file"].startswith(str(venv)), found["file"]  # the installed wheel, not this checkout
    assert found["compiled_scanner"] is True

    # truth from plain torch, here: the encoder gets no gradient, the head does
    torch.manual_seed(0)
    enc, head = nn.Linear(4, 8), nn.Linear(8, 1)
    head(enc(torch.randn(16, 4)).relu().detach()).pow(2).mean().backward()
    assert enc.weight.grad is None and head.weight.grad is not None
    assert found["verdicts"] == {
        "enc.weight": "detach",
        "enc.bias": "detach",
        "head.weight": "ok",
        "head.bias": "ok",
    }

    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Debian chromium not installed: apt-get install -y chromium")
        pytest.skip("Debian chromium not installed")
    # In its own process: the browser tests may hold a Playwright session open in this one.
    OUTPUT.mkdir(exist_ok=True)
    shown = run([sys.executable, "-c", VIEWER, page_path, found["red"], OUTPUT / "wheel_page.png"], cwd=HERE)
    seen = json.loads(shown.stdout.strip().splitlines()[-1])
    assert seen["red"] == found["red_params"] != []
    assert "▾ enc · Linear" in seen["text"]  # the module boxes
    assert seen["errors"] == [] and seen["requests"] == []


VIEWER = r"""
import json, sys
from browser.browser_helpers import node_ids_filled, wait_for_draws
from browser.conftest import CHROMIUM, CHROMIUM_ARGS
from playwright.sync_api import sync_playwright

path, red, shot = sys.argv[1], sys.argv[2], sys.argv[3]
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    page = browser.new_context(offline=True, viewport={"width": 1100, "height": 700}).new_page()
    errors, requests = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto("file://" + path)
    wait_for_draws(page.locator(".gradviz-root"), 1)
    found = {
        "red": node_ids_filled(page, red),
        "text": page.locator("svg.gv-svg").text_content(),
        "errors": errors,
        "requests": [u for u in requests if not u.startswith(("file:", "blob:", "data:"))],
    }
    page.screenshot(path=shot)
    browser.close()
print(json.dumps(found))
"""


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def test_the_sdist_builds_the_bundle_with_npm_ci_says_so_and_keeps_the_lockfile(tmp_path) -> None:
    # outside CI a machine may lack npm or `build`; .ci/run guarantees both (the [test] extra, its npm check)
    missing = [what for what, ok in (("npm", shutil.which("npm")), ("build", _has("build"))) if not ok]
    if missing:
        message = f"{' and '.join(missing)} needed to build from the sdist"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    run([sys.executable, "-m", "build", "--sdist", "-o", tmp_path, ROOT])
    (sdist,) = tmp_path.glob("torch_gradviz-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "src", filter="data")
    top = names[0].split("/")[0]
    assert f"{top}/hatch_build.py" in names and f"{top}/js/package-lock.json" in names
    assert not any("/node_modules/" in n or "/gradviz/static/" in n for n in names)
    src = tmp_path / "src" / top
    lock = (src / "js" / "package-lock.json").read_bytes()
    assert lock == (ROOT / "js" / "package-lock.json").read_bytes()

    # build a wheel from it on a terminal, as a person would: the hook's lines reach the terminal
    out = tmp_path / "wheel"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)]
    screen = _on_a_terminal(cmd)
    assert "gradviz: installing the widget's build tools with npm ci" in screen, screen[-2000:]
    assert "gradviz: widget bundle built" in screen
    assert (src / "js" / "package-lock.json").read_bytes() == lock  # npm ci never rewrites it
    assert "gradviz: compiled the run reader's crc32 scanner" in screen
    (whl,) = out.glob("torch_gradviz-*.whl")
    with zipfile.ZipFile(whl) as zf:
        assert zf.getinfo("gradviz/static/widget.js").file_size > 500_000
        assert any(n.endswith(sysconfig.get_config_var("EXT_SUFFIX")) for n in zf.namelist())

    # where there is no C compiler, the wheel is pure Python (the numpy scanner), and the build says so
    for built in (src / "gradviz" / "runlog").glob("_crcscan*.so"):
        built.unlink()
    pure = tmp_path / "pure"
    env = {**os.environ, "CC": "false"}  # setuptools' build_ext calls $CC, which fails
    done = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", pure, src], env=env)
    said = [line for line in (done.stdout + done.stderr).splitlines() if "gradviz:" in line]
    assert any("gradviz: could not compile the run reader's crc32 scanner" in line for line in said), said
    (whl,) = pure.glob("torch_gradviz-*.whl")
    assert whl.name.endswith("-py3-none-any.whl"), whl.name
    with zipfile.ZipFile(whl) as zf:
        assert not any(n.endswith((".so", ".pyd")) for n in zf.namelist())
        assert zf.getinfo("gradviz/static/widget.js").file_size > 500_000


def _on_a_terminal(cmd: list[str], timeout: float = 600) -> str:
    """Run ``cmd`` with a pseudo-terminal as its controlling terminal; return what it showed there."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdin/stdout/stderr and /dev/tty are the terminal
        try:
            os.execv(cmd[0], cmd)
        finally:
            os._exit(127)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    screen = b"".join(chunks).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, screen[-3000:]
    return screen
