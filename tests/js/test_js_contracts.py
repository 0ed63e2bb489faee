"""The front end's static checks, from pytest: ESLint (no error, no warning) and tsc over the JSDoc types
(``js/src/types.js`` mirrors the widget state of ``js/STATE.md``; every reader in ``js/src`` is checked
against it, and the anywidget models against ``@anywidget/types``).

Those two are skipped without npm, except under CI=true, where that is a failure (as
tests/js/test_vitest.py). The typedefs are also held against the JSON Python really sends (real traces and
a real watched run): each object has exactly the properties its typedef lists, less the few the front end
adds itself. That part needs no Node.
"""

from __future__ import annotations

import os
import pathlib
import re
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


@pytest.fixture(scope="module")
def npm_ready() -> None:
    if shutil.which("npm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npm is not installed, and CI must run the JS lint and type checks")
        pytest.skip("npm is not installed: the JS checks need Node 20+ and npm")
    tools = [JS / "node_modules" / ".bin" / tool for tool in ("eslint", "tsc")]
    if not (JS / "node_modules").is_dir() or not all(tool.exists() for tool in tools):
        install = _npm("ci", "--no-audit", "--no-fund", timeout=600)
        assert install.returncode == 0, f"npm ci failed:\n{install.stdout}\n{install.stderr}"


def test_eslint_passes(npm_ready):
    result = _npm("run", "lint", timeout=600)
    assert result.returncode == 0, f"npm run lint failed:\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}"


def test_typecheck_passes(npm_ready):
    result = _npm("run", "typecheck", timeout=600)
    assert result.returncode == 0, (
        f"npm run typecheck failed:\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}"
    )


# -- the typedefs against what Python sends (no Node needed) ------------------------------------------

TYPES = JS / "src" / "types.js"
#: Properties the front end adds to a node itself (optional in the typedef, never sent by Python).
JS_ONLY = {"GraphNode": {"moduleInferred", "firstVerdict"}}


def _after_type(text: str) -> str:
    """What follows the leading ``{type}`` of a JSDoc tag (the type may nest braces)."""
    depth = 0
    for i, ch in enumerate(text):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return text[i + 1 :]
    raise AssertionError(f"unbalanced type in types.js: {text}")


def _typedefs() -> dict[str, dict[str, bool]]:
    """``{typedef: {property: required}}`` of the object typedefs in js/src/types.js."""
    out: dict[str, dict[str, bool]] = {}
    for block in re.findall(r"/\*\*(.*?)\*/", TYPES.read_text(encoding="utf-8"), re.DOTALL):
        current = None
        for line in block.splitlines():
            line = line.strip().lstrip("*").strip()
            if line.startswith("@typedef"):
                object_type = line.startswith("@typedef {object}")
                current = out.setdefault(line.split()[2], {}) if object_type else None
            elif line.startswith("@property") and current is not None:
                name = _after_type(line[len("@property") :].strip()).split()[0]
                current[name.strip("[]")] = not name.startswith("[")
    return out


def _sent(typedef: str, objects: list[dict]) -> None:
    """Every object Python sent has exactly the typedef's properties (less those the front end adds)."""
    props = _typedefs()[typedef]
    required = {k for k, req in props.items() if req}
    optional = set(props) - required
    assert objects, typedef
    for obj in objects:
        assert set(obj) == required, (
            f"{typedef}: Python sends {sorted(obj)}, types.js says {sorted(required)}"
        )
    assert optional <= JS_ONLY.get(typedef, set()), (
        f"{typedef}: optional in types.js but not added by JS: {optional}"
    )


@pytest.fixture(scope="module")
def graphs() -> list[tuple[dict, bytes]]:
    """Graph JSON of traces with a NaN birth, a cut and an error (gradviz.demos)."""
    import gradviz
    from gradviz.view._state import build_state

    out = []
    for name in ("nan_from_log", "detach_in_forward", "inplace_on_saved"):
        trace = getattr(gradviz.demos, name)().trace
        graph, _, hists = build_state(trace.capture, trace.verdicts)
        out.append((graph, hists))
    return out


def test_the_graph_typedefs_are_what_python_sends(graphs):
    nodes = [n for graph, _ in graphs for n in graph["nodes"]]
    tensors = [n["tensor"] for n in nodes if n["tensor"]]
    _sent("Graph", [graph for graph, _ in graphs])
    _sent("GraphNode", nodes)
    _sent("GraphEdge", [e for graph, _ in graphs for e in graph["edges"]])
    _sent("Verdict", [v for graph, _ in graphs for v in graph["verdicts"]])
    _sent("GraphError", [graph["error"] for graph, _ in graphs if graph["error"]])
    _sent("TensorInfo", tensors)
    _sent("Summary", [s for t in tensors for s in (t["value"], t["grad"]) if s])
    _sent("OpInfo", [n["op"] for n in nodes if n["op"]])
    _sent("BirthInfo", [n["birth"] for n in nodes if n["birth"]])


def test_histogram_rows_are_hist_bins_long(graphs):
    for graph, hists in graphs:
        bins = graph["hist_bins"]
        assert isinstance(bins, int) and bins > 0
        assert len(hists) % (4 * bins) == 0  # float32 rows of `hist_bins` counts


def test_the_watch_typedefs_are_what_python_sends():
    import gradviz
    from gradviz.view._watch_state import WATCH_TRAITS, build_watch_state

    demo = gradviz.demos.dead_relus()
    state = build_watch_state(demo.history, demo.monitor.graph)
    _sent("WatchTimeline", [state["timeline"]])
    # MonitorWidget's synced traits: the data traits Python builds, and the two the front end sets
    assert set(_typedefs()["WatchTraits"]) == {*WATCH_TRAITS, "step", "selected"}
    assert set(_typedefs()["GraphTraits"]) == {"graph", "edge_norms", "hists", "selected", "scale"}


def test_the_watch_forensics_typedefs_are_what_python_sends():
    """``timeline.forensics`` of a replay with a birth, as gradviz/view/_watch_forensics.py writes it."""
    from gradviz.records import Birth, Site
    from gradviz.view._watch_forensics import watch_forensics

    born = Birth("nan", "forward", 0, "log", "g1", Site("/src/m.py", 3, "y = x.log()"), "from a negative")
    replay = ({"nodes": [{"id": "b0", "kind": "birth"}]}, b"", b"")
    info = watch_forensics(4, [born], replay=replay).info
    _sent("WatchForensics", [info, watch_forensics(4, [], reason="no replay: why").info])
    _sent("WatchBirth", info["births"])
