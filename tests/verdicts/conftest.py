"""Builders of plain records for the verdict tests: no torch, no tracing, only the dataclasses of
``gradviz.records``, filled in by hand.

Test files reach them through the ``make`` fixture (``make.site(12)``, ``make.target(...)``): a conftest is
not a module to import from.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from gradviz.records import (
    Birth,
    Capture,
    Cause,
    Clear,
    Cut,
    CutHow,
    ErrorInfo,
    ErrorKind,
    GradState,
    Op,
    OpList,
    Root,
    Site,
    Target,
)

FILE = "model.py"
LIBRARY_FILE = "/venv/site-packages/lib/layers.py"


def site(line: int, code: str = "", *, library: bool = False) -> Site:
    """A line of the user's ``model.py`` (or of installed library code)."""
    return Site(LIBRARY_FILE if library else FILE, line, code, library)


def target(name: str = "enc.weight", index: int = 0, **fields: Any) -> Target:
    """A Target with Target's own defaults: a registered leaf parameter that requires grad, reached by
    nothing, delivered nothing, with no optimizer given."""
    fields.setdefault("kind", "parameter")
    return Target(index=index, name=name, **fields)


def got(name: str = "enc.weight", index: int = 0, norm: float = 1.5, **fields: Any) -> Target:
    """A target the traced backward delivered a finite gradient to, still held in its .grad."""
    fields = {
        "reached": True,
        "delivered": GradState.finite,
        "delivered_norm": norm,
        "grad_state": GradState.finite,
        "grad_norm": norm,
        **fields,
    }
    return target(name, index, **fields)


def op(index: int, name: str, line: int, code: str = "", *, outputs: Sequence[tuple[int, ...]] = ((),)) -> Op:
    """One forward call at ``model.py:line``."""
    return Op(
        index=index,
        name=name,
        module="",
        site=site(line, code),
        grad_enabled=True,
        inputs=[()],
        outputs=list(outputs),
    )


def capture(*targets: Target, ops: Sequence[Op] = (), **fields: Any) -> Capture:
    """A Capture of ``targets`` (in index order) and ``ops``; other fields keep Capture's defaults."""
    assert [t.index for t in targets] == list(range(len(targets))), "targets are listed by index"
    return Capture(targets=list(targets), ops=OpList(ops), **fields)


def cut(
    kind: Cause,
    lost: int,
    line: int | None,
    code: str = "",
    *,
    op: str = "detach",
    index: int = 0,
    how: CutHow = CutHow.op,
    **fields: Any,
) -> Cut:
    """A cut of ``kind`` at ``model.py:line`` that took the paths of the targets in bitset ``lost``."""
    return Cut(
        index=index,
        kind=kind,
        op=op,
        lost=lost,
        site=site(line, code) if line is not None else None,
        how=how,
        **fields,
    )


def root(values: int, cuts: Sequence[int] = (), **fields: Any) -> Root:
    """A loss whose value depends on the targets in bitset ``values``, cut off from them by ``cuts``."""
    fields.setdefault("requires_grad", True)
    fields.setdefault("site", site(30, "loss.backward()"))
    fields.setdefault("node", "loss")
    return Root(values=values, grads=fields.pop("grads", 0), cuts=tuple(cuts), **fields)


def error(
    kind: ErrorKind,
    message: str = "boom",
    *,
    phase: str = "backward",
    at: Site | None = None,
    blame: Site | None = None,
    blame_op: str = "",
    exc_type: str = "RuntimeError",
    **fields: Any,
) -> ErrorInfo:
    """An error raised at ``at`` (default: the ``loss.backward()`` line, model.py:30)."""
    return ErrorInfo(
        type=exc_type,
        message=message,
        phase=phase,
        site=at if at is not None else site(30, "loss.backward()"),
        kind=kind,
        blame=blame,
        blame_op=blame_op,
        **fields,
    )


def birth(kind: str, phase: str, op_name: str, line: int, code: str = "", **fields: Any) -> Birth:
    """Where a NaN/Inf first appeared: ``op_name`` at ``model.py:line``."""
    fields.setdefault("op", -1)
    fields.setdefault("node", None)
    return Birth(kind=kind, phase=phase, op_name=op_name, site=site(line, code), **fields)


def clear(targets: int, line: int | None, code: str = "", how: str = "set to None") -> Clear:
    return Clear(targets=targets, site=site(line, code) if line is not None else None, how=how)


@pytest.fixture
def make() -> SimpleNamespace:
    """The builders above, for a test to call: ``make.target(requires_grad=False)``."""
    return SimpleNamespace(
        site=site,
        target=target,
        got=got,
        op=op,
        capture=capture,
        cut=cut,
        root=root,
        error=error,
        birth=birth,
        clear=clear,
    )
