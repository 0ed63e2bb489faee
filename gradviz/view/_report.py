"""The plain-text report: a table a person can paste into a forum post."""

from __future__ import annotations

import textwrap

from gradviz.records import Capture, Cause, Verdict

SEVERITIES = ("ok", "red", "frozen", "zero", "nonfinite")


def grad_state(v: Verdict) -> str:
    """What .grad holds: None, 0, nan/inf, or its norm."""
    if v.grad_norm is None:
        return "None"
    if v.grad_norm == 0:
        return "0"
    return f"{v.grad_norm:.3g}"


def summary_line(cap: Capture, verdicts: dict[str, Verdict]) -> str:
    """The headline: "Net: 4 tensors checked, all learn", or the count of each kind (frozen apart)."""
    what = cap.model_name or "trace"
    n = len(verdicts)
    head = f"{what}: {n} tensor{'s' if n != 1 else ''} checked"
    if not n:
        return f"{head}, nothing to check"
    count = {s: sum(v.cause.severity == s for v in verdicts.values()) for s in SEVERITIES}
    if count["ok"] == n:
        return f"{head}, all learn" if n > 1 else f"{head}, it learns"
    parts = [
        f"{count['ok']} learn{'s' if count['ok'] == 1 else ''}" if count["ok"] else "",
        f"{count['red']} will not learn" if count["red"] else "",
        f"{count['nonfinite']} with NaN/Inf gradients" if count["nonfinite"] else "",
        f"{count['zero']} with zero gradients" if count["zero"] else "",
        f"{count['frozen']} frozen" if count["frozen"] else "",
    ]
    return f"{head}: " + ", ".join(p for p in parts if p)


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
