"""The note gradviz adds to an exception raised inside a trace: the real cause, the line, the fix."""

from __future__ import annotations

from gradviz.capture._records import Capture, Cut
from gradviz.diagnose._causes import Verdict
from gradviz.diagnose._messages import _CUT_TEXT, _ERROR_FIX, _at, _code, error_fix


def note_for(cap: Capture, verdicts: dict[str, Verdict]) -> str | None:
    """Text for ``exc.add_note``, or None when gradviz has nothing to add."""
    err = cap.error
    if err is None:
        return None
    line = err.blame or err.site
    if err.kind == "no_grad_root":
        cut = _first_root_cut(cap)
        if cut is not None:
            what, fix = _CUT_TEXT[cut.kind]
            head = "the loss has no grad_fn: " + what.format(
                at=_at(cut.site), code=_code(cut.site), detail="", op=cut.op
            ).replace("its only path", "every path from the parameters", 1)
            return _format(head, cut.site.where if cut.site else None, fix)
        return _format(
            "the loss does not depend on any tensor that requires grad (nothing in it was computed with "
            "gradient tracking from a parameter)",
            err.site.where if err.site else None,
            _ERROR_FIX["no_grad_root"],
        )
    if err.kind == "inplace_saved":
        head = (
            f"the in-place op {err.blame_op or ''}{_at(line)}{_code(line)} modified a tensor that autograd "
            "saved for backward; torch's message names the op that saved it, not the line to change"
        )
        return _format(head, line.where if line else None, _ERROR_FIX["inplace_saved"])
    if err.kind == "leaf_inplace":
        head = f"an in-place op{_at(line)}{_code(line)} writes into a leaf tensor that requires grad"
        return _format(head, line.where if line else None, _ERROR_FIX["leaf_inplace"])
    if err.kind in _ERROR_FIX:
        verdict = next((v for v in verdicts.values() if v.cause == "error"), None)
        head = verdict.message if verdict is not None else err.message
        return _format(head, line.where if line else None, error_fix(err))
    return None


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
