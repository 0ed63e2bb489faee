"""Which verdicts fail an assertion that a step trains its parameters, and the message it fails with.

Passing: ``ok``, and the causes that are decisions written in the code — ``frozen`` (``requires_grad=False``)
and ``not_requested`` (left out of ``backward(inputs=...)``). Everything else fails, ``unknown`` included
(gradviz could not decide: never a silent pass). ``allow`` lets more through: names or glob patterns
(``"encoder.*"``), or a mapping of a pattern to the causes allowed there (``{"lora_B.*": "zero"}``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping

from gradviz.records import Capture, Cause, Verdict
from gradviz.view._report import paragraphs, summary_line

__all__ = ["PASSING", "Allow", "failure_text", "failures"]

PASSING = frozenset({Cause.ok, Cause.frozen, Cause.not_requested})

Allow = Iterable[str] | Mapping[str, str | Cause | Iterable[str | Cause]] | None


def allowed(allow: Allow) -> Callable[[Verdict], bool]:
    if allow is None:
        return lambda v: False
    if isinstance(allow, str):
        raise TypeError(
            f"allow= takes names or patterns in a list or set (allow={{{allow!r}}}), or a mapping of a "
            f"pattern to causes; got the string {allow!r}."
        )
    if isinstance(allow, Mapping):
        rules: list[tuple[str, frozenset[Cause]]] = []
        for pattern, causes in allow.items():
            many = [causes] if isinstance(causes, (str, Cause)) else list(causes)
            try:
                rules.append((pattern, frozenset(Cause(c) for c in many)))
            except ValueError:
                known = ", ".join(c.value for c in Cause)
                raise ValueError(
                    f"allow[{pattern!r}]: {causes!r} is not a cause; causes are {known}."
                ) from None
        return lambda v: any(v.cause in causes and fnmatch.fnmatchcase(v.name, p) for p, causes in rules)
    patterns = list(allow)
    if not all(isinstance(p, str) for p in patterns):
        raise TypeError(f"allow= takes parameter names or glob patterns (strings); got {patterns!r}.")
    return lambda v: any(fnmatch.fnmatchcase(v.name, p) for p in patterns)


def failures(verdicts: dict[str, Verdict], allow: Allow = None) -> list[Verdict]:
    """The verdicts that fail: not passing, and not let through by ``allow``."""
    let = allowed(allow)
    return [v for v in verdicts.values() if v.cause not in PASSING and not let(v)]


def failure_text(cap: Capture, verdicts: dict[str, Verdict], failed: list[Verdict]) -> str:
    """The message: how many fail, then one paragraph per problem (cause, line, fix)."""
    summary = summary_line(cap, verdicts)
    lines = [f"{len(failed)} of {len(verdicts)} tensors will not learn as they should ({summary})"]
    lines += paragraphs(failed, list(verdicts))
    if cap.error is not None:
        lines.append(f"raised: {cap.error.type}: {cap.error.message}")
    return "\n".join(lines)
