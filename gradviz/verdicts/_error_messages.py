"""The sentences for an error raised inside a trace: what the traced code did wrong, naming its lines, and
the fix (a parameter's verdict, and the note gradviz adds to the exception)."""

from __future__ import annotations

import re

from gradviz.records import ERROR_KINDS, Capture, ErrorInfo, ErrorKind, GradState, Target
from gradviz.verdicts._evidence import unreachable
from gradviz.verdicts._text import at, code, norm

__all__ = ["error_clause", "error_fix", "error_text"]


def error_fix(err: ErrorInfo) -> str:
    """The fix for an error: its kind's, or a better one for the culprit gradviz found."""
    text = ERROR_KINDS[err.kind]
    if err.kind is ErrorKind.inplace_saved:
        line = err.blame.code if err.blame is not None else ""
        if err.blame_op.endswith("(inplace=True)"):  # relu(inplace=True), dropout(inplace=True)
            op = err.blame_op.removesuffix("(inplace=True)")
            return (
                f"Pass inplace=False to that {op} (or drop the argument): it overwrote its input, which "
                "autograd needed."
            )
        if re.search(r"\.step\(", line):  # an optimizer update between two backwards through one graph
            return (
                "Call the optimizer's step() after the last backward() through this graph (or run a fresh "
                "forward before the next backward): step() updates the weights in place, and the graph still "
                "needed them."
            )
    return text.fix_by_blame.get(err.blame_op, text.fix)


def error_clause(err: ErrorInfo, cap: Capture) -> str:
    """What the traced code did wrong, naming its lines: one clause."""
    line = err.blame or err.site
    op = f"the in-place op {err.blame_op}" if err.blame_op else "an in-place op"
    op += f"{at(line)}{code(line)}"
    match err.kind:
        case ErrorKind.leaf_inplace:
            return f"{op} modified a leaf that requires grad"
        case ErrorKind.inplace_saved if not err.blame_op:
            return (
                "a tensor autograd had saved for backward was modified in place by an op gradviz did not see "
                "(before the traced block, or inside code the tracer cannot see, such as TorchScript)"
            )
        case ErrorKind.inplace_saved:
            return f"{op} modified a tensor autograd had saved for backward"
        case ErrorKind.inference_saved:
            return f"a tensor made under inference_mode{at(line)} was used in a differentiable op"
        case ErrorKind.graph_freed:
            return _graph_freed(err, cap)
        case ErrorKind.non_scalar:
            return f"backward(){at(err.site)} was called on a non-scalar tensor without gradient="
        case ErrorKind.no_grad_root | ErrorKind.other:
            lib = f" (in library code at {err.inner.where}{code(err.inner)})" if err.inner is not None else ""
            return f"{err.type}: {err.message}{at(line)}{code(line)}{lib}"
        case _:
            return unreachable(err.kind)


def error_text(t: Target, err: ErrorInfo, cap: Capture) -> tuple[str, str]:
    clause, fix = error_clause(err, cap), error_fix(err)
    if t.grad_state == GradState.none:
        return f"{t.name} got no gradient because the {err.phase} raised: {clause}.", fix
    # a reentrant checkpoint's own backward (or an earlier backward) delivered before the error
    return (
        f"{t.name} did not get its whole gradient because the {err.phase} raised: {clause}. Its .grad"
        f"{norm(t.grad_norm)} holds only what arrived before the error.",
        fix,
    )


def _graph_freed(err: ErrorInfo, cap: Capture) -> str:
    if err.blame_op == "carried" and cap.carried:
        c = next((c for c in reversed(cap.carried) if c.site == err.blame), cap.carried[-1])
        shape = "×".join(map(str, c.shape)) or "scalar"
        return (
            f"backward reached into the graph of an earlier step, which is already freed: the tensor used"
            f"{at(c.site)}{code(c.site)} ({shape}, made by {c.made_by}) carries its autograd history from "
            "before this step (state carried across steps without .detach())"
        )
    if err.blame_op == "second backward":
        return (
            f"backward ran a second time through the same graph{at(err.site)}, whose buffers the backward"
            f"{at(err.blame)} had freed"
        )
    if err.blame_op == "freed by":
        return (
            f"the backward{at(err.site)} ran through a graph whose saved tensors the backward{at(err.blame)}"
            f"{code(err.blame)} had already freed (it ran without retain_graph=True)"
        )
    return "backward ran a second time through a graph that was already freed"
