"""The what-if stage of the fuzzer: ``Trace.without`` against plain torch with the cut really removed.

For each cut group gradviz recorded at a line the generator wrote a removable cut on (``.detach()``,
``.data``, ``no_grad``, ``inference_mode``, ``set_grad_enabled(False)``), the program's text is edited at
that line (the cut dropped, or gradients turned on) and run under the oracles: the tensors behind the cut
that the edited run's backward delivered a gradient to must be exactly those gradviz said would be reached
(or were reached already). An edited program that raises, or a line with nothing to edit, is not judged.
"""

from __future__ import annotations

import pathlib
import re
import sys
from typing import Any

from ._generator import Program
from ._oracles import load, observe

__all__ = ["EDITABLE", "whatif_disagreements"]

_DROP_DETACH = ((r"\.detach\(\)", ""),)
_GRAD_ON = (
    (r"torch\.no_grad\(\)", "torch.enable_grad()"),
    (r"torch\.inference_mode\(\)", "torch.enable_grad()"),
    (r"set_grad_enabled\(False\)", "set_grad_enabled(True)"),
)
# generator construct -> the edit that makes its line an identity
EDITABLE = {
    "detach": _DROP_DETACH,
    "detach_inline": _DROP_DETACH,
    "data": ((r"\.data\b", ""),),
    "no_grad": _GRAD_ON,
    "inference_mode": _GRAD_ON,
    "set_grad_enabled": _GRAD_ON,
}
_CAUSES = {"detach": "detach", "detach_inline": "detach", "data": "data"}


def _cut_lines(p: Program) -> dict[int, str]:
    """The lines the generator wrote a removable cut on -> its construct."""
    lines: dict[int, str] = {}
    for info in p.tensors.values():
        for path in info.paths:
            for cut in path.cuts:
                if cut.construct in EDITABLE and len(cut.lines) == 1:
                    lines[next(iter(cut.lines))] = cut.construct
    return lines


def _edit(source: str, line: int, construct: str) -> str | None:
    rows = source.splitlines(keepends=True)
    before = rows[line - 1]
    after = before
    for pattern, replacement in EDITABLE[construct]:
        after = re.sub(pattern, replacement, after)
    if after == before:
        return None
    rows[line - 1] = after
    return "".join(rows)


def whatif_disagreements(p: Program, workdir: pathlib.Path, trace: Any) -> list[tuple[str, str, str, str]]:
    """(construct, param, torch, gradviz) for each tensor whose reach without a cut gradviz got wrong."""
    from gradviz.verdicts import removable

    cap = trace.capture
    lines = _cut_lines(p)
    out: list[tuple[str, str, str, str]] = []
    for cut in cap.cuts:
        if cut.group != cut.index or removable(cut) or cut.site is None:
            continue
        if pathlib.Path(cut.site.file).name != p.filename or cut.site.line not in lines:
            continue
        construct = lines[cut.site.line]
        if _CAUSES.get(construct, "no_grad") != cut.kind.value:
            continue
        edited = _edit(p.source, cut.site.line, construct)
        if edited is None:
            continue
        name = f"{p.module_name}_without_{cut.site.line}"
        path = workdir / f"{name}.py"
        path.write_text(edited, encoding="utf-8")
        try:
            truth = observe(load(path, name), tuple(p.tensors))
        finally:
            sys.modules.pop(name, None)
        if truth.exc_type is not None:
            continue
        what = trace.without(cut.index)
        for t in cap.targets:
            if not any(c.group == cut.group and c.lost & t.bit for c in cap.cuts) or t.name not in p.tensors:
                continue
            said = t.name not in what.still  # would be reached, or is already
            delivered = truth.delivered.get(t.name, "none") != "none"
            if said != delivered:
                torch_says = "reached" if delivered else "not reached"
                gradviz_says = (
                    "would be reached" if said else f"still not reached ({what.still.get(t.name, '?')})"
                )
                out.append((f"without {construct}@{cut.site.line}", t.name, torch_says, gradviz_says))
    return out
