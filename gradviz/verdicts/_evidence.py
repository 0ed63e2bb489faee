"""What a rule found, handed to the message builder: one small frozen type per kind of evidence.

``_rules`` decides a cause and the evidence for it; ``_messages`` matches on the evidence exhaustively
(mypy checks the ``assert_never`` arm, and ``tests/verdicts`` builds a message for every kind), so a new kind
of evidence without its words fails a check here, never a user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NoReturn

from gradviz.records import Birth, Cut, ErrorInfo, Site

__all__ = [
    "Born",
    "Cleared",
    "Consumed",
    "Created",
    "CutPath",
    "Evidence",
    "Hidden",
    "LossNonfinite",
    "NoGradField",
    "NotRequested",
    "Nothing",
    "Raised",
    "Undecided",
    "Unreadable",
    "ZeroWhy",
    "unreachable",
]


@dataclass(frozen=True)
class Nothing:
    """The target's own record says it all (frozen, unregistered, unused, ok, not in the optimizer)."""


@dataclass(frozen=True)
class Created:
    """A Parameter made during the traced forward; ``site`` is the line that first used it."""

    site: Site | None


@dataclass(frozen=True)
class Cleared:
    """A gradient arrived, then was removed or zeroed (``site``: the call that did, None if unseen)."""

    site: Site | None


@dataclass(frozen=True)
class Consumed:
    """A gradient arrived and a hook took it during backward (``.grad`` is None afterwards by design)."""


@dataclass(frozen=True)
class NotRequested:
    """A backward reached it but was asked for other inputs; ``site`` is that call."""

    site: Site | None


@dataclass(frozen=True)
class Undecided:
    """gradviz's own error stopped the recording (``failure`` says which): only the final .grad is known."""

    failure: str


@dataclass(frozen=True)
class Hidden:
    """No gradient reached it, and it belongs to code the tracer cannot see inside (``how``: "torch.compile"
    or "TorchScript", module ``path``): why is hidden there; ``site`` is where that code's output was seen."""

    how: str
    path: str
    site: Site | None


@dataclass(frozen=True)
class CutPath:
    """Every path to the loss went through ``cut``."""

    cut: Cut


@dataclass(frozen=True)
class Raised:
    """The traced step raised ``error`` before this gradient could arrive."""

    error: ErrorInfo


@dataclass(frozen=True)
class Born:
    """A non-finite gradient arrived; ``birth`` is where the NaN/Inf was born (None: not located)."""

    birth: Birth | None


@dataclass(frozen=True)
class LossNonfinite:
    """The loss itself is non-finite (``value``) and the target helped compute it."""

    value: Literal["nan", "inf"]
    birth: Birth | None


@dataclass(frozen=True)
class NoGradField:
    """Reached by the graph, but there is no ``.grad`` to check: ``why`` says which case."""

    why: Literal["no_backward", "not_leaf", "watch"]


@dataclass(frozen=True)
class Unreadable:
    """A gradient arrived whose values cannot be read (a meta tensor, inside a functorch transform)."""


ZeroKind = Literal["cancel", "zero_weight", "dead_relu", "step", "where", "mul", "discarded", "unknown"]


@dataclass(frozen=True)
class ZeroWhy:
    """Why a gradient came out exactly zero, read from the recorded graph's per-node norms."""

    kind: ZeroKind
    site: Site | None = None
    op: str = ""
    weight: str = ""  # zero_weight: the name of the all-zero weight
    by_design: bool = False  # zero_weight: a weight that starts at zero on purpose (LoRA's B)
    paths: int = 0  # cancel: how many non-zero gradients met and summed to zero
    via: tuple[str, ...] = ()  # cancel: each path, by the op nearest the parameter ("rsample at f.py:9")
    rejoin: Site | None = None  # cancel: the line where the paths meet again on the way to the loss
    units: int = 0  # dead_relu: the units (last dimension) of the ReLU's output, all dead on this batch


Evidence = (
    Nothing
    | Created
    | Cleared
    | Consumed
    | NotRequested
    | CutPath
    | Hidden
    | Raised
    | Born
    | LossNonfinite
    | NoGradField
    | Undecided
    | Unreadable
    | ZeroWhy
)


def unreachable(value: NoReturn) -> NoReturn:
    """The arm after an exhaustive ``match``: mypy proves it unreachable (``typing.assert_never`` is 3.11+);
    if it is ever reached, a kind was added without its words, and this says which."""
    raise AssertionError(f"gradviz has no words for {value!r}: add a case for it")
