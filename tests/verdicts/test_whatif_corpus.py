"""``Trace.without`` on the scenario corpus, against plain torch with the cut really removed.

For every cut group of every scenario whose line can be edited to an identity (``.detach()`` and ``.data``
dropped, ``no_grad`` / ``inference_mode`` / ``set_grad_enabled(False)`` turned into gradients on), the
scenario's source is edited at that line and run as plain torch: the parameters behind the cut that get a
``.grad`` are exactly those ``without`` says would be reached (or are reached already).
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import torch

import gradviz
from gradviz.verdicts import removable

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
from test_scenarios_truth import _NoTrace  # noqa: E402

from scenarios._corpus import Recorder, Scenario, load_all  # noqa: E402

_EDITS = {
    "detach": ((r"\.detach\(\)", ""),),
    "data": ((r"\.data\b", ""),),
    "no_grad": (
        (r"torch\.no_grad\(\)", "torch.enable_grad()"),
        (r"torch\.inference_mode\(\)", "torch.enable_grad()"),
        (r"set_grad_enabled\(False\)", "set_grad_enabled(True)"),
    ),
}
_CANDIDATES = re.compile(r"\.detach\(\)|\.data\b|no_grad|inference_mode|set_grad_enabled")


def _edited(sc: Scenario, line: int, kind: str, tmp: Path) -> Any:
    """The scenario's module with ``line`` edited to remove a cut of ``kind``; None if the line has none."""
    lines = sc.path.read_text(encoding="utf-8").splitlines(keepends=True)
    before = lines[line - 1]
    after = before
    for pattern, replacement in _EDITS.get(kind, ()):
        after = re.sub(pattern, replacement, after)
    if after == before:
        return None
    lines[line - 1] = after
    path = tmp / f"edited_{sc.name}_{line}.py"
    path.write_text("".join(lines), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _grads_after(module: Any, fresh: bool) -> dict[str, bool] | None:
    """Which tensors of the traced model/dict have a ``.grad`` after the plain-torch run (None: raised)."""
    rec = Recorder(type("_Fresh", (_NoTrace,), {"fresh": True}) if fresh else _NoTrace)
    try:
        result = module.run(rec)
    except Exception:
        return None
    subject = result if result is not None else rec.calls[0].target
    if isinstance(subject, torch.nn.Module):
        return {n: p.grad is not None for n, p in subject.named_parameters()}
    if isinstance(subject, dict):
        return {
            n: getattr(t, "grad", None) is not None for n, t in subject.items() if isinstance(t, torch.Tensor)
        }
    return None


def test_what_would_be_reached_is_what_torch_reaches_with_the_cut_removed(tmp_path) -> None:
    checked, wrong = [], []
    for sc in load_all():
        if not _CANDIDATES.search(sc.path.read_text(encoding="utf-8")):
            continue
        rec = Recorder(gradviz.trace)
        with contextlib.suppress(Exception):  # a scenario that raises still has its trace
            sc.run(rec)
        t = rec.calls[0].trace
        cap = t.capture
        for cut in cap.cuts:
            if cut.group != cut.index or removable(cut) or cut.site is None:
                continue
            if Path(cut.site.file).resolve() != sc.path.resolve():
                continue
            module = _edited(sc, cut.site.line, cut.kind.value, tmp_path)
            if module is None:
                continue
            truth = _grads_after(module, sc.fresh)
            if truth is None:
                continue
            what = t.without(cut.index)
            lost = {
                c_t.name for c_t in cap.targets for c in cap.cuts if c.group == cut.group and c.lost & c_t.bit
            }
            said = {n for n in lost if n not in what.still}  # would be reached, or is already
            torch_says = {n for n in lost if truth.get(n)}
            checked.append(f"{sc.name}:{cut.site.line}")
            if said != torch_says:
                wrong.append((sc.name, cut.site.line, sorted(said), sorted(torch_says), what.text()))
    assert not wrong, wrong
    assert len(checked) >= 20, checked
