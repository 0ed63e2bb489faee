"""What would be reached without a cut: the answer of ``Trace.without`` (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gradviz.records._capture import Site
from gradviz.records._verdict import Cause


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
        return said

    def __repr__(self) -> str:
        return f"<gradviz.WhatIf {self.text()}>"


def _names(names: list[str], most: int = 6) -> str:
    if len(names) <= most:
        return ", ".join(names)
    return ", ".join(names[:most]) + f" and {len(names) - most} more"
