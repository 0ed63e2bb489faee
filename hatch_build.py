"""Build the widget's JavaScript bundle (gradviz/static/widget.js), and compile the run reader's crc32 scanner
(gradviz/runlog/_crcscan.c), when a wheel is built.

hatchling runs this hook (``[tool.hatch.build.hooks.custom]`` in pyproject.toml) for every wheel, also the
one behind ``pip install -e .``:

- the bundle is up to date (newer than js/src, js/build.mjs, js/package.json and js/package-lock.json):
  nothing to do; this is the case for a wheel built from a checkout that was installed once already;
- otherwise ``npm ci`` (exactly what js/package-lock.json pins; the lockfile is never rewritten, unlike
  ``npm install``) when js/node_modules is missing or older than the lockfile, then ``npm run build``.

pip hides a build backend's output unless run with ``-v``, and npm takes a minute or two on a fresh
checkout, so each step is also written to the terminal pip runs in (``/dev/tty``), when there is one.
Without Node.js the build stops with a message that says what to install.
The sdist carries js/ (without node_modules) and not the bundle: a wheel built from it runs ``npm ci``.

The scanner is one small C file (no library but Python's own): what ``gradviz.open`` uses to look for the
records after damage in a run's files at the speed of a valid read (NOTE [a rolling crc32] in
gradviz/runlog/_rolling.py). It is compiled with setuptools' ``build_ext`` (the compiler Python was built
with), in place, unless it is up to date; the wheel is then tagged for this platform and Python. Without a
C compiler the build goes on and says so: the wheel stays pure Python and ``gradviz.open`` reads damaged
files with the numpy scanner instead, the same records, several times slower on a badly damaged file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLE = Path("gradviz", "static", "widget.js")
SCANNER = Path("gradviz", "runlog", "_crcscan.c")
SOURCES = ("js/src", "js/build.mjs", "js/package.json", "js/package-lock.json")
MIN_NODE = 18  # esbuild's floor


class WheelBuildHook(BuildHookInterface):
    """The bundle and the scanner, for every wheel (also the editable one)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        if stale(root):
            build_bundle(root)
        built = build_scanner(root)
        if built is not None:  # shipped, gitignored: only the build for this Python (not an older one's)
            build_data["artifacts"].append(built.relative_to(root).as_posix())
            build_data["pure_python"] = False  # a wheel for this platform and Python
            build_data["infer_tag"] = True


def newest_mtime(path: Path) -> float:
    if path.is_file():
        return path.stat().st_mtime
    return max((p.stat().st_mtime for p in path.rglob("*") if p.is_file()), default=0.0)


def stale(root: Path) -> bool:
    """Whether the bundle is missing or older than any of its sources."""
    bundle = root / BUNDLE
    if not bundle.is_file():
        return True
    built = bundle.stat().st_mtime
    return any((root / s).exists() and newest_mtime(root / s) > built for s in SOURCES)


def say(message: str) -> None:
    """One line for the person running pip: stderr (pip shows it with -v) and the terminal, if any."""
    line = f"gradviz: {message}"
    print(line, file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        return
    try:
        with open("/dev/tty", "w", encoding="utf-8") as tty:  # pip captures our stdout and stderr
            tty.write(f"\r{line}\n")
    except OSError:  # no controlling terminal (CI, a service), or not a POSIX system
        pass


def build_bundle(root: Path) -> None:
    js = root / "js"
    npm = shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        raise RuntimeError(
            f"gradviz: building the widget from source needs Node.js {MIN_NODE}+ and npm on PATH "
            f"({'npm' if npm is None else 'node'} was not found). Install them (Debian/Ubuntu: "
            "apt-get install nodejs npm), or install a built wheel of torch-gradviz, which carries the "
            "bundle and needs no Node."
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    major = int(version.lstrip("v").split(".")[0]) if version.lstrip("v")[:1].isdigit() else 0
    if major < MIN_NODE:
        raise RuntimeError(
            f"gradviz: building the widget needs Node.js {MIN_NODE}+, found {version or '?'} at {node}. "
            "Install a newer Node.js, or install a built wheel of torch-gradviz (no Node needed)."
        )
    start = time.monotonic()
    marker = js / "node_modules" / ".package-lock.json"  # npm writes it after each install
    if not marker.is_file() or marker.stat().st_mtime < (js / "package-lock.json").stat().st_mtime:
        say(
            f"installing the widget's build tools with npm ci (Node {version}; 1-2 minutes the first time)..."
        )
        run([npm, "ci", "--no-audit", "--no-fund"], js)
    say("bundling the widget (esbuild: Graphviz-WASM and the UI into gradviz/static/widget.js)...")
    run([npm, "run", "build"], js)
    size = (root / BUNDLE).stat().st_size / 1e6
    say(f"widget bundle built ({size:.1f} MB) in {time.monotonic() - start:.0f} s")


def build_scanner(root: Path) -> Path | None:
    """Compile gradviz/runlog/_crcscan.c next to itself for this Python, unless it is up to date; the
    compiled file, or None. Never fails the build: without a compiler the numpy scanner is used."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    built = root / SCANNER.with_name(SCANNER.stem + suffix)
    source = root / SCANNER
    if built.is_file() and built.stat().st_mtime >= source.stat().st_mtime:
        return built
    try:
        from setuptools import Distribution, Extension
        from setuptools.command.build_ext import build_ext
    except ImportError as e:
        say(f"not compiling the run reader's crc32 scanner ({e}); gradviz.open uses its numpy one")
        return None
    extension = Extension("gradviz.runlog._crcscan", [str(SCANNER)])
    command = build_ext(Distribution({"name": "torch-gradviz", "ext_modules": [extension]}))
    command.inplace = True
    scratch = tempfile.mkdtemp(prefix="gradviz-build-")  # nothing left in the checkout, nothing reused
    command.build_temp, command.build_lib = str(Path(scratch, "temp")), str(Path(scratch, "lib"))
    here = os.getcwd()
    try:
        os.chdir(root)
        with contextlib.redirect_stdout(sys.stderr):  # pip shows it with -v
            command.ensure_finalized()
            command.run()
    except Exception as e:  # no compiler, no Python headers: a pure wheel, said
        built.unlink(missing_ok=True)  # an older build is not the source's
        say(
            f"could not compile the run reader's crc32 scanner ({type(e).__name__}: {e}); the wheel is pure "
            "Python and gradviz.open reads damaged run files with its numpy scanner (slower)"
        )
        return None
    finally:
        os.chdir(here)
        shutil.rmtree(scratch, ignore_errors=True)
    say(f"compiled the run reader's crc32 scanner ({built.name})")
    return built if built.is_file() else None


def run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    sys.stderr.write(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(
            f"gradviz: `{' '.join(cmd[1:])}` failed in {cwd} (exit {done.returncode}):\n{tail}"
        )
