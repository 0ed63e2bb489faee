"""What would be reached without a cut: the answer of ``Trace.without`` (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gradviz.records._capture import Site
from gradviz.records._verdict import Cause, Verdict


@dataclass
class WhatIf:
    """Which parameters one cut group alone keeps from the loss, read from the recorded lineage with no
    re-run (NOTE [what would learn without a cut] in capture/_lineage.py).

    ``reached``: not reached now, and reached by autograd were the group's cuts identities (reached: a
    gradient would arrive; it can still be exactly zero). ``still``: behind the group's cuts and still not
    reached, each with why (another cut on every path, named; or no path to the loss). ``cuts``: the
    group's cuts (indices into ``Capture.cuts``), all at ``site``."""

    group: int
    cuts: tuple[int, ...]
    kind: Cause
    op: str
    site: Site | None
    what: str  # the cut in words: "the .detach() at model.py:27"
    reached: list[str] = field(default_factory=list)
    still: dict[str, str] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)  # the targets behind the group's cuts
    # confirmed by a re-run on a copy with the group's cuts run as identities (``Trace.without(...,
    # model=, step=)``): its verdicts, and which of ``lost`` it reached; None when not re-run
    confirmed: dict[str, Verdict] | None = None
    confirmed_reached: list[str] | None = None
    rerun_note: str = ""  # why a re-run confirms nothing (the cut could not be removed)

    @property
    def agrees(self) -> bool | None:
        """Whether the re-run reached exactly what was said would be reached (None: not re-run)."""
        if self.confirmed_reached is None:
            return None
        return set(self.confirmed_reached) == set(self.lost) - set(self.still)

    def text(self) -> str:
        """One paragraph, as the view and the repr say it."""
        head = f"Without {self.what}"
        if self.reached:
            said = (
                f"{head}: {_names(self.reached)} would be reached (a reached parameter can still get a zero "
                "gradient)."
            )
        else:
            said = f"{head}: no parameter would be reached that is not reached now."
        if self.still:
            why: dict[str, list[str]] = {}
            for name, reason in self.still.items():
                why.setdefault(reason, []).append(name)
            said += " Still not reached: " + "; ".join(f"{_names(n)} ({r})" for r, n in why.items()) + "."
        if self.rerun_note:
            said += f" {self.rerun_note}"
        elif self.confirmed_reached is not None:
            got = _names(self.confirmed_reached) if self.confirmed_reached else "none of them"
            verdict = "as said" if self.agrees else "NOT as said: trust the re-run"
            said += f" Re-run on a copy with it removed: {got} reached ({verdict})."
        return said

    def __repr__(self) -> str:
        return f"<gradviz.WhatIf {self.text()}>"


def _names(names: list[str], most: int = 6) -> str:
    if len(names) <= most:
        return ", ".join(names)
    return ", ".join(names[:most]) + f" and {len(names) - most} more"
