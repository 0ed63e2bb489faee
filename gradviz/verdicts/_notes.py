"""The note gradviz adds to an exception raised inside a trace: the real cause, the line, the fix."""

from __future__ import annotations

from gradviz.records import ERROR_KINDS, Capture, Cut, ErrorKind
from gradviz.verdicts._cut_messages import cut_clause
from gradviz.verdicts._error_messages import error_clause, error_fix


def note_for(cap: Capture) -> str | None:
    """Text for ``exc.add_note``, or None when gradviz has nothing to add."""
    err = cap.error
    if err is None:
        return None
    line = err.blame or err.site
    where = line.where if line is not None else None
    if err.kind is ErrorKind.no_grad_root:
        cut = _first_root_cut(cap)
        if cut is not None:
            what, fix = cut_clause(cut, path="every path from the parameters to the loss")
            return _format(f"the loss has no grad_fn: {what}", cut.site.where if cut.site else None, fix)
        return _format(
            "the loss does not depend on any tensor that requires grad (nothing in it was computed with "
            "gradient tracking from a parameter)",
            err.site.where if err.site else None,
            error_fix(err),
        )
    if err.kind is ErrorKind.other:
        return None
    head = error_clause(err, cap)
    extra = ERROR_KINDS[err.kind].note
    return _format(f"{head}; {extra}" if extra else head, where, error_fix(err))


def _first_root_cut(cap: Capture) -> Cut | None:
    for root in cap.roots:
        for i in root.cuts:
            if not cap.cuts[i].retracted:
                return cap.cuts[i]
    return None


def _format(cause: str, where: str | None, fix: str) -> str:
    lines = [f"gradviz: {cause}."]
    if where:
        lines.append(f"gradviz: where: {where}")
    lines.append(f"gradviz: fix: {fix}")
    return "\n".join(lines)
