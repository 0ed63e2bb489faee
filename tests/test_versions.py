"""One version, written once: the package (Python, its metadata, the JS bundle's package.json, the
changelog) and every file format (what the writers write, what the readers accept, what CHANGELOG.md says)."""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

import numpy as np
import pytest
from packaging.version import Version

import gradviz
from gradviz.records import FORMAT_VERSION, Capture, History
from gradviz.runlog import _format
from gradviz.runlog._header import check_header
from gradviz.view import build_state, build_watch_state, run_summary_dict, verdicts_dict

ROOT = Path(__file__).resolve().parents[1]


def _changelog() -> str:
    return (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_the_package_version_is_the_same_everywhere() -> None:
    version = Version(gradviz.__version__)
    assert Version(importlib.metadata.version("torch-gradviz")) == version, (
        "the installed metadata is stale: reinstall with `pip install -e .`"
    )
    package = json.loads((ROOT / "js" / "package.json").read_text(encoding="utf-8"))
    assert Version(package["version"]) == version, "js/package.json differs from gradviz/_version.py"
    lock = json.loads((ROOT / "js" / "package-lock.json").read_text(encoding="utf-8"))
    assert Version(lock["version"]) == version, "js/package-lock.json is stale: run `npm install` in js/"


def test_the_changelog_starts_with_this_version() -> None:
    version = Version(gradviz.__version__)
    heading = re.search(r"^## (\d[^\s]*) \(([^)]+)\)", _changelog(), re.MULTILINE)
    assert heading is not None, "CHANGELOG.md has no '## <version> (<date or unreleased>)' heading"
    assert Version(heading[1]) == Version(version.base_version)
    if version.is_devrelease or version.is_prerelease:
        assert heading[2] == "unreleased"
    else:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", heading[2]), "a release heading carries its date"


def _format_table() -> dict[str, int]:
    rows = re.findall(r"^\| ([a-z ]+) \| .* \| (\d+) \|$", _changelog(), re.MULTILINE)
    return {name.strip(): int(version) for name, version in rows}


def test_the_changelog_lists_the_versions_the_files_are_written_in() -> None:
    written = {
        "history": FORMAT_VERSION,
        "run log": _format.VERSION,
        "widget state": build_state(Capture(), {})[0]["version"],
        "watch timeline": build_watch_state(History.empty(["w"]), None)["timeline"]["version"],
        "verdicts": verdicts_dict(Capture(), {})["version"],
        "run summary": run_summary_dict(History.empty(["w"]))["version"],
    }
    assert _format_table() == written


def test_readers_refuse_a_version_they_do_not_know(tmp_path) -> None:
    path = tmp_path / "h.npz"
    History.empty(["w"]).save(path)
    arrays = dict(np.load(path))
    arrays["format_version"] = np.int64(FORMAT_VERSION + 1)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=f"format {FORMAT_VERSION}"):
        History.load(path)

    header = {"format": _format.FORMAT, "version": _format.VERSION + 1, "names": ["w"]}
    with pytest.raises(ValueError, match=f"version {_format.VERSION}"):
        check_header(json.dumps(header).encode(), "header.json")
