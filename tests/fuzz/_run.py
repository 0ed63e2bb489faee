"""A fuzz run: many programs checked, the disagreements counted, each written out as a runnable script."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ._compare import KINDS, Disagreement, Outcome, check
from ._generator import generate

__all__ = ["Summary", "fuzz", "script", "write_scripts"]


@dataclass
class Summary:
    """A sweep: how many programs, the disagreements by kind, and the outcomes worth reading."""

    seed: int
    programs: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    outcomes: list[Outcome] = field(default_factory=list)  # only those with disagreements or problems

    @property
    def disagreements(self) -> list[Disagreement]:
        return [d for o in self.outcomes for d in o.disagreements]

    @property
    def problems(self) -> list[tuple[Outcome, str]]:
        return [(o, msg) for o in self.outcomes for msg in o.problems]

    def table(self, limit: int = 40) -> str:
        """The disagreements grouped by kind, construct and variant, largest group first, one example each."""
        groups: dict[tuple[str, str, str], list[Disagreement]] = {}
        for d in self.disagreements:
            groups.setdefault((d.kind, d.construct, d.program.variant), []).append(d)
        rows = []
        for (kind, construct, variant), found in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:limit]:
            programs = len({d.program.index for d in found})
            first = min(found, key=lambda d: len(d.program.source))
            rows.append(
                f"{len(found):5d} in {programs:4d} programs  {kind:6s} {construct} ({variant}); e.g. "
                f"{first.program.filename} {first.param or ''}: torch {first.expected} / gradviz {first.got}"
            )
        return "\n".join(rows)

    def line(self) -> str:
        parts = ", ".join(f"{k} {self.counts[k]}" for k in KINDS)
        return f"fuzz: {self.programs} programs, {sum(self.counts.values())} disagreements ({parts})"


def fuzz(seed: int, programs: int, *, progress: Callable[[int, Summary], None] | None = None) -> Summary:
    """Check programs ``0 .. programs-1`` of ``seed``."""
    summary = Summary(seed)
    with tempfile.TemporaryDirectory(prefix="gradviz-fuzz-") as tmp:
        for index in range(programs):
            outcome = check(generate(seed, index), Path(tmp))
            summary.programs += 1
            summary.counts.update(d.kind for d in outcome.disagreements)
            if outcome.disagreements or outcome.problems:
                summary.outcomes.append(outcome)
            if progress is not None:
                progress(index, summary)
    return summary


def _describe_truth(o: Outcome) -> list[str]:
    t = o.truth
    fwd = t.forward_births[0] if t.forward_births else None
    bwd = t.backward_births[0] if t.backward_births else None
    p = o.program
    raised = f"{t.exc_type}: {t.exc_message.splitlines()[0][:100]}" if t.exc_type else "nothing"
    lines = [
        f"torch raised: {raised}",
        f"losses backpropagated: {', '.join(t.roots) or 'none'}",
    ]
    if fwd or bwd or t.anomaly:
        lines.append(
            "first NaN/Inf: forward "
            + (f"{fwd.kind} from aten.{fwd.op} at {p.filename}:{fwd.line}" if fwd else "none")
            + "; backward "
            + (f"{bwd.kind} from {bwd.node} (forward {p.filename}:{bwd.line})" if bwd else "none")
            + f"; anomaly mode names {t.anomaly or 'nothing'}"
        )
    if o.gradviz_exc:
        lines.append(f"under gradviz the step raised: {o.gradviz_exc[:150]}")
    return lines


def script(o: Outcome) -> str:
    """The program as a standalone script: a header saying what torch did and what gradviz said (line numbers
    are this file's), the program, and a ``__main__`` that prints gradviz's report."""
    p = o.program
    body: list[str] = [
        f"Fuzz program seed={p.seed} index={p.index}: gradviz disagrees with plain torch.",
        f"Constructs: {', '.join(p.constructs)}",
        "Line numbers below are lines of this file. Run it to see gradviz's report.",
        "",
        *_describe_truth(o),
        "",
    ]
    for d in o.disagreements:
        who = d.param or "(the run)"
        body += [
            f"[{d.kind}] {who}: {d.basis}" if d.basis else f"[{d.kind}] {who}",
            f"    torch says: {d.expected}",
            f"    gradviz:    {d.got}",
        ]
    for msg in o.problems:
        body.append(f"[fuzzer problem] {msg}")
    offset = len(body) + 1  # the comment lines and one blank line
    header = "\n".join(f"# {line}".rstrip() for line in body)
    header = _shift(header, p.filename, offset)
    main = (
        '\n\nif __name__ == "__main__":\n'
        "    import gradviz\n\n"
        "    traces = []\n\n"
        "    def trace(*args, **kwargs):\n"
        "        traces.append(gradviz.trace(*args, **kwargs))\n"
        "        return traces[-1]\n\n"
        "    try:\n"
        "        step(trace)\n"
        "    finally:\n"
        "        if traces:\n"
        "            print(traces[0].report())\n"
    )
    return f"{header}\n\n{p.source}{main}"


def _shift(text: str, filename: str, offset: int) -> str:
    """``file.py:12`` -> ``file.py:<12 + offset>`` (a line of the program -> the same line in the script)."""
    out, pos, key = [], 0, filename + ":"
    while (at := text.find(key, pos)) >= 0:
        end = at + len(key)
        digits = end
        while digits < len(text) and text[digits].isdigit():
            digits += 1
        out.append(text[pos:end])
        out.append(str(int(text[end:digits]) + offset) if digits > end else "")
        pos = digits
    out.append(text[pos:])
    return "".join(out)


def write_scripts(summary: Summary, out: Path) -> list[Path]:
    """Write each disagreeing program of ``summary`` into ``out`` (replacing scripts of an earlier run with
    the same seed)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"fuzz_{summary.seed}_*.py"):
        old.unlink()
    written = []
    for o in summary.outcomes:
        path = out / o.program.filename
        path.write_text(script(o), encoding="utf-8")
        written.append(path)
    return written
