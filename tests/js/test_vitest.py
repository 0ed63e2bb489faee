"""Runs the front end's unit tests (vitest, in js/) from pytest, so one test run covers both."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

JS = pathlib.Path(__file__).resolve().parents[2] / "js"


def _npm(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npm", *args],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
        check=False,
    )


def test_vitest_passes():
    if shutil.which("npm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npm is not installed, and CI must run the JS unit tests")
        pytest.skip("npm is not installed: the JS unit tests need Node 20+ and npm")
    if not (JS / "node_modules").is_dir():
        install = _npm("ci", "--no-audit", "--no-fund", timeout=600)
        assert install.returncode == 0, f"npm ci failed:\n{install.stdout}\n{install.stderr}"
    result = _npm("test", timeout=600)
    assert result.returncode == 0, f"npm test failed:\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}"
