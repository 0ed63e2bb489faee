"""The widget-state fixture the JS tests and the page tests read is what the current code builds."""

from __future__ import annotations

import base64
import importlib.util
import json
import math
from pathlib import Path

import numpy as np

_MAKER = Path(__file__).resolve().parents[1] / "browser" / "fixtures" / "make_fixture.py"
_BUFFERS = ("edge_norms", "hists")  # float32 bytes, base64


def _maker():
    spec = importlib.util.spec_from_file_location("make_fixture", _MAKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _differences(kept: object, fresh: object, path: str = "") -> list[str]:
    """Where two states differ: keys, lengths, strings, types; numbers beyond float32 rounding (a norm
    may differ in its last bits between CPUs)."""
    if isinstance(fresh, dict) and isinstance(kept, dict):
        out = [f"{path}.{k}: only in the fixture" for k in kept.keys() - fresh.keys()]
        out += [f"{path}.{k}: missing from the fixture" for k in fresh.keys() - kept.keys()]
        for key in kept.keys() & fresh.keys():
            out += _differences(kept[key], fresh[key], f"{path}.{key}")
        return out
    if isinstance(fresh, list) and isinstance(kept, list):
        if len(kept) != len(fresh):
            return [f"{path}: {len(kept)} items in the fixture, {len(fresh)} now"]
        return [
            d
            for i, (a, b) in enumerate(zip(kept, fresh, strict=True))
            for d in _differences(a, b, f"{path}[{i}]")
        ]
    both_numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (kept, fresh))
    if both_numbers:
        same = math.isclose(kept, fresh, rel_tol=1e-5, abs_tol=1e-12) or (kept != kept and fresh != fresh)
        return [] if same else [f"{path}: {kept!r} in the fixture, {fresh!r} now"]
    return (
        []
        if kept == fresh and type(kept) is type(fresh)
        else [f"{path}: {kept!r} in the fixture, {fresh!r} now"]
    )


def _floats(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


def test_the_checked_in_fixture_is_what_the_code_builds_now() -> None:
    maker = _maker()
    fresh = json.loads(maker.text(maker.build()))
    kept = json.loads(maker.FIXTURE.read_text(encoding="utf-8"))
    differences = _differences(kept["graph"], fresh["graph"], "graph")
    for key in _BUFFERS:
        a, b = _floats(kept[key]), _floats(fresh[key])
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-5, equal_nan=True):
            differences.append(f"{key}: {a.tolist()} in the fixture, {b.tolist()} now")
    assert differences == [], (
        "tests/browser/fixtures/small_model.json has drifted from the widget state the code builds; "
        "regenerate it with `python tests/browser/fixtures/make_fixture.py`:\n" + "\n".join(differences[:20])
    )
