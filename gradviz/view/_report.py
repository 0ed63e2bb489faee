"""The plain-text report: a table a person can paste into a forum post."""

from __future__ import annotations

import re
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
    lines += paragraphs(problems, list(verdicts), width)
    if cap.error is not None:
        lines += ["", f"raised: {cap.error.type}: {cap.error.message}"]
    lines += [f"note: {n}" for n in cap.notes]
    return "\n".join(lines)


# -- one paragraph per problem: tensors sharing a cause, a line and a fix ------------------------------------


def paragraphs(problems: list[Verdict], everything: list[str], width: int = 100) -> list[str]:
    """The lines of one paragraph per problem: names, cause and line; the message; the fix."""
    lines: list[str] = []
    for group in problems_by_paragraph(problems):
        first = group[0]
        at = f" at {first.where}" if first.where else ""
        head = f"{name_list([v.name for v in group], everything)}: {first.cause.value}{at}"
        lines += textwrap.wrap(head, width, subsequent_indent="    ", break_on_hyphens=False)
        message, fix = first.message, first.fix
        if len(group) > 1:
            message, fix = for_group(message, first.name), for_group(fix, first.name)
        lines += textwrap.wrap(message, width, initial_indent="  ", subsequent_indent="  ")
        lines += textwrap.wrap("fix: " + fix, width, initial_indent="  ", subsequent_indent="       ")
    return lines


def problems_by_paragraph(problems: list[Verdict]) -> list[list[Verdict]]:
    """Verdicts grouped by cause, line, fix and message (each read with the tensor's own name and norm
    taken out, so "`model.x.requires_grad_(True)`"-style fixes group): the paragraph says its first member's
    message of all of them, so tensors the same cause left in different states are not grouped. In the
    order of their first member."""
    groups: dict[tuple[str, str | None, str, str], list[Verdict]] = {}
    for v in problems:
        key = (v.cause.value, v.where, v.fix.replace(v.name, "\0"), for_group(v.message, v.name))
        groups.setdefault(key, []).append(v)
    return list(groups.values())


def name_list(names: list[str], everything: list[str]) -> str:
    """The names of a paragraph, shortest first: a module all of whose tensors are in it is "module.*"."""
    members, shown, covered = set(names), [], set()
    if len(names) > 1 and members.issuperset(everything):
        return f"all {len(names)} tensors"
    for name in names:
        if name in covered:
            continue
        parts = name.split(".")[:-1]
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i]) + "."
            under = [n for n in everything if n.startswith(prefix)]
            if len(under) > 1 and all(n in members for n in under):
                shown.append(f"{prefix}* ({len(under)})")
                covered.update(under)
                break
        else:
            shown.append(name)
            covered.add(name)
    return ", ".join(shown)


_NORM = re.compile(r" \(norm [^)]*\)")
_CODE = re.compile(r"(`[^`]*`)")


def for_group(text: str, name: str) -> str:
    """A message or fix written for ``name``, said of every tensor of its paragraph: "Each of them" for its
    name (singular, so the sentence's verbs and pronouns still agree), "their" for "name's"; one tensor's
    gradient norm dropped (the table has them all). Code in backticks is left as it is."""
    text = _NORM.sub("", text)
    pieces = _CODE.split(text)
    for i in range(0, len(pieces), 2):  # outside backticks
        piece = pieces[i].replace(f"{name}'s", "their").replace(name, "each of them")
        if i == 0 and piece.startswith(("each of", "their")):  # the name began the sentence
            piece = piece[0].upper() + piece[1:]
        pieces[i] = piece
    return "".join(pieces)
