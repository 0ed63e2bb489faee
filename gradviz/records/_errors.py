"""The kinds of error a traced step can raise: how each is recognised, what it means, and its fix.

One table for every layer: capture recognises the kind from torch's message (``kind_of``), the verdict
rules give its fix and the view its one-sentence explanation. The sentences that name the user's lines
(which line modified what) are built by the verdict rules from the ``ErrorInfo`` record.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ERROR_KINDS", "ErrorKind", "ErrorText", "kind_of"]


class ErrorKind(str, enum.Enum):
    """What kind of error the traced forward or backward raised (a ``str`` enum: ``== "graph_freed"``)."""

    leaf_inplace = "leaf_inplace"
    inplace_saved = "inplace_saved"
    no_grad_root = "no_grad_root"
    inference_saved = "inference_saved"
    graph_freed = "graph_freed"
    non_scalar = "non_scalar"
    other = "other"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ErrorText:
    """One kind of error: the words of torch's message that identify it, the explanation a view shows above
    the graph, and the fix (``fix_by_blame``: a better fix when gradviz found a particular culprit, keyed
    by ``ErrorInfo.blame_op``)."""

    signature: str
    explanation: str
    fix: str
    fix_by_blame: Mapping[str, str] = field(default_factory=dict)
    caused_by_cut: bool = False  # the error is the symptom of a cut: the cut is the answer
    note: str = ""  # what the exception note adds after naming the culprit line, beyond torch's message


ERROR_KINDS: Mapping[ErrorKind, ErrorText] = {
    ErrorKind.leaf_inplace: ErrorText(
        signature="leaf Variable that requires grad is being used in an in-place operation",
        explanation=(
            "An in-place operation wrote into a leaf tensor that requires grad (a parameter, or an input "
            "made with requires_grad=True); autograd does not allow that."
        ),
        fix=(
            "Write the result to a new tensor (`x = x * 2`, not `x[:] = x * 2` or `x.add_(...)`), or do the "
            "update under torch.no_grad() if it is an optimizer-style update."
        ),
    ),
    ErrorKind.inplace_saved: ErrorText(
        signature="modified by an inplace operation",
        explanation=(
            "An in-place operation changed a tensor that autograd had saved for the backward pass; torch's "
            "message names the op that saved it, gradviz names the in-place line to change."
        ),
        fix=(
            "Replace the in-place op with its out-of-place form (`h = h * 2`, not `h.mul_(2)`), or clone "
            "the tensor before modifying it."
        ),
        note="torch's message names the op that saved it, not the line to change",
    ),
    ErrorKind.no_grad_root: ErrorText(
        signature="does not require grad and does not have a grad_fn",
        explanation=(
            "The loss has no grad_fn: nothing it was computed from is tracked by autograd, so backward() "
            "has nothing to differentiate."
        ),
        fix="Make sure the loss is computed from the model's output without .detach(), .data or "
        "torch.no_grad().",
        caused_by_cut=True,
    ),
    ErrorKind.inference_saved: ErrorText(
        signature="Inference tensors cannot be saved for backward",
        explanation=(
            "A tensor created under torch.inference_mode() was used in an operation that saves it for "
            "backward; inference tensors cannot take part in autograd."
        ),
        fix=(
            "Create that tensor outside torch.inference_mode() (or .clone() it outside) before using it in "
            "a computation you backpropagate through."
        ),
    ),
    ErrorKind.graph_freed: ErrorText(
        signature="backward through the graph a second time",
        explanation=(
            "backward() ran a second time through a graph whose saved tensors the first backward() had "
            "already freed."
        ),
        fix="Run a fresh forward for each backward, or pass retain_graph=True to the first backward.",
        fix_by_blame={
            "freed by": (
                "Pass retain_graph=True to the first backward (the line above), or add the losses and call "
                "backward() once on their sum."
            ),
            "carried": (
                "Detach the carried state where it enters the new step (`h = h.detach()`, as truncated "
                "BPTT does); retain_graph=True would only make every step backpropagate through all "
                "earlier ones."
            ),
        },
    ),
    ErrorKind.non_scalar: ErrorText(
        signature="grad can be implicitly created only for",
        explanation="backward() was called on a tensor with more than one element, without a gradient= "
        "argument.",
        fix="Reduce the loss to a scalar (e.g. .mean() or .sum()) or pass gradient= to backward().",
    ),
    ErrorKind.other: ErrorText(
        signature="",
        explanation="",
        fix="Fix the error that the traced code raised (its message and line are above).",
    ),
}


def kind_of(message: str) -> ErrorKind:
    """The kind of an error, from torch's message (``other`` when none matches)."""
    for kind, text in ERROR_KINDS.items():
        if text.signature and text.signature in message:
            return kind
    return ErrorKind.other
