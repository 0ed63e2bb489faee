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
    "AddedUp",
    "Born",
    "Cleared",
    "Consumed",
    "Created",
    "CutPath",
    "Evidence",
    "Hidden",
    "KeptFixed",
    "LossNonfinite",
    "NoGradField",
    "NotRequested",
    "Nothing",
    "Raised",
    "Role",
    "StepRead",
    "StraightThrough",
    "Undecided",
    "Unreadable",
    "Untrained",
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
    """A gradient arrived, then was removed or zeroed (``site``: the call that did, None if unseen; ``how``:
    the Clear's, "written by <op>" for an in-place op that left zeros)."""

    site: Site | None
    how: str = ""


@dataclass(frozen=True)
class StepRead:
    """A gradient arrived, an optimizer step that holds the tensor used it, then it was removed or zeroed
    (``site``: the call that did, None if unseen): the end of a training step, nothing lost."""

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
class AddedUp:
    """What the traced backwards delivered was finite (or zero), and ``.grad`` is NaN/Inf: it was there
    before the trace (``before``: its norm then), or the sum of several backwards overflowed."""

    before: float | None
    backwards: int


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


RoleKind = Literal["target", "through", "feeds", "beside"]


@dataclass(frozen=True)
class Role:
    """How a tensor that does not learn meets the tensors that do, read from the recorded graph and ops.

    ``kind``: "target" when its values meet theirs only in a comparison (a loss of the two, a difference
    squared), as the value to match (a target network, a teacher); "through" when their gradient flows
    through an op that uses it (a discriminator in the generator's step, a frozen backbone under a trained
    prompt); "feeds" when its output enters an op that uses the trained tensors (a generator during the
    discriminator's step, a feature extractor under a trained head); "beside" otherwise. ``op`` and
    ``site``: that comparison, or that op. ``module``: the outermost module around it that holds no trained
    tensor ("" when none). ``trained``: the tensors it meets, in short ("q", "G", "ctx"); ``leaks``: trained
    tensors that also get a gradient through the target's side of the comparison (a feature trunk shared
    with the target network), in short; ``quiet``: a line where that module also ran under no_grad.
    """

    kind: RoleKind
    op: str = ""
    site: Site | None = None
    module: str = ""
    trained: str = ""
    leaks: str = ""
    quiet: Site | None = None  # a line where its module also ran with gradients off: meant to stay fixed
    sure: bool = True  # target: more than the comparison says so (a copy of a trained part, soft targets)


@dataclass(frozen=True)
class Untrained:
    """A gradient arrived, but no optimizer param group holds it; ``role`` says how it meets the others."""

    role: Role


@dataclass(frozen=True)
class KeptFixed:
    """Every path to the loss went through ``cut``, and past it the values only meet the trained tensors'
    in a comparison (``role``, kind "target"): the cut keeps a target or a teacher fixed, as it should."""

    cut: Cut
    role: Role

    @property
    def where(self) -> Site | None:
        return self.cut.site


@dataclass(frozen=True)
class StraightThrough:
    """Its only path went through the detached branch of a straight-through estimator
    ``x + (f(x) - x).detach()`` (``cut``): the forward uses f(x), the backward skips f, so nothing after it
    trains what f(x) came from. ``join`` is the line that adds the branch back; ``misplaced`` a loss that
    compares the straight-through output with ``x.detach()``: meant for f(x), computed on the wrong side."""

    cut: Cut
    join: Site | None
    misplaced: Site | None = None  # a loss comparing the straight-through output with x.detach()

    @property
    def where(self) -> Site | None:
        """The cut's line (the views hang the tensor off the cut there); the message names the loss."""
        return self.cut.site


ZeroKind = Literal[
    "cancel", "summed", "zero_weight", "dead_relu", "step", "where", "mul", "discarded", "unknown"
]


@dataclass(frozen=True)
class ZeroWhy:
    """Why a gradient came out exactly zero, read from the recorded graph's per-node norms."""

    kind: ZeroKind
    site: Site | None = None
    op: str = ""
    weight: str = ""  # zero_weight: the name of the all-zero weight
    # zero_weight: the all-zero weight gets a gradient of its own and is trained, so it moves at this step
    # (a factor that starts at zero on purpose: LoRA's B, a zero-init projection, a ReZero gate)
    by_design: bool = False
    paths: int = 0  # cancel: how many non-zero gradients met and summed to zero; summed: how many backwards
    via: tuple[str, ...] = ()  # cancel: each path, by the op nearest the parameter ("rsample at f.py:9")
    rejoin: Site | None = None  # cancel: the line where the paths meet again on the way to the loss
    # cancel: one path is a reparameterised sample of it (value + noise * scale, the noise drawn just before):
    # a density scored at its own rsample()
    resampled: bool = False
    units: int = 0  # dead_relu: the units (last dimension) of the ReLU's output, all dead on this batch
    feeds: bool = False  # dead_relu: the target multiplies that ReLU's output (the next layer's weight)


Evidence = (
    Nothing
    | AddedUp
    | Created
    | Cleared
    | Consumed
    | StepRead
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
    | Untrained
    | KeptFixed
    | StraightThrough
)


def unreachable(value: NoReturn) -> NoReturn:
    """The arm after an exhaustive ``match``: mypy proves it unreachable (``typing.assert_never`` is 3.11+);
    if it is ever reached, a kind was added without its words, and this says which."""
    raise AssertionError(f"gradviz has no words for {value!r}: add a case for it")
