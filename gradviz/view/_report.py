"""The plain-text report: a table a person can paste into a forum post."""

from __future__ import annotations

import textwrap

from gradviz.capture._records import Capture
from gradviz.diagnose import Cause, Verdict


def grad_state(v: Verdict) -> str:
    """What .grad holds: None, 0, nan/inf, or its norm."""
    if v.grad_norm is None:
        return "None"
    if v.grad_norm == 0:
        return "0"
    return f"{v.grad_norm:.3g}"


def summary_line(cap: Capture, verdicts: dict[str, Verdict]) -> str:
    what = cap.model_name or "trace"
    n = len(verdicts)
    count = {s: sum(v.cause.severity == s for v in verdicts.values()) for s in ("red", "zero", "nonfinite")}
    parts = [
        f"{count['red']} will not learn" if count["red"] else "",
        f"{count['nonfinite']} with NaN/Inf gradients" if count["nonfinite"] else "",
        f"{count['zero']} with zero gradients" if count["zero"] else "",
    ]
    tail = ", ".join(p for p in parts if p) or ("all learn" if n else "nothing to check")
    return f"{what}: {n} tensor{'s' if n != 1 else ''} checked, {tail}"


def report(cap: Capture, verdicts: dict[str, Verdict], width: int = 100) -> str:
    rows = [("parameter", "‖grad‖", "cause", "where")]
    rows += [(v.name, grad_state(v), v.cause.value, v.where or "") for v in verdicts.values()]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    widths[0] = min(widths[0], 40)

    def fmt(r: tuple[str, ...]) -> str:
        name = r[0] if len(r[0]) <= widths[0] else "…" + r[0][-(widths[0] - 1) :]
        cells = [c.ljust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        return "  ".join([name.ljust(widths[0]), *cells]).rstrip()

    lines = [summary_line(cap, verdicts), ""]
    lines.append(fmt(rows[0]))
    lines.append("  ".join("-" * w for w in widths))
    lines += [fmt(r) for r in rows[1:]]
    problems = [v for v in verdicts.values() if v.cause is not Cause.ok]
    if problems:
        lines.append("")
    seen: set[tuple[str, str | None, str]] = set()
    for v in problems:
        key = (v.cause.value, v.where, v.fix)
        names = [p.name for p in problems if (p.cause.value, p.where, p.fix) == key]
        if key in seen:
            continue
        seen.add(key)
        head = names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1} more: {', '.join(names[1:4])}"
        head += "" if len(names) == 1 else ("…)" if len(names) > 4 else ")")
        lines.append(f"{head}: {v.cause.value}")
        lines += textwrap.wrap(v.message, width, initial_indent="  ", subsequent_indent="  ")
        lines += textwrap.wrap("fix: " + v.fix, width, initial_indent="  ", subsequent_indent="       ")
    if cap.error is not None:
        lines += ["", f"raised: {cap.error.type}: {cap.error.message}"]
    lines += [f"note: {n}" for n in cap.notes]
    return "\n".join(lines)
