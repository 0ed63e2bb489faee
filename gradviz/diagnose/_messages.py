"""One plain sentence saying what happened, and one saying what to do, for each cause."""

from __future__ import annotations

from gradviz.capture._records import Capture, Cut, ErrorInfo, GraphNode, Site, Target
from gradviz.diagnose._causes import Cause


def _at(site: Site | None) -> str:
    return f" at {site.where}" if site is not None else ""


def _code(site: Site | None) -> str:
    return f" (`{site.code}`)" if site is not None and site.code else ""


def _norm(value: float | None) -> str:
    return "" if value is None else f" (norm {value:.3g})"


def explain(cause: Cause, t: Target, where: Site | None, extra: object, cap: Capture) -> tuple[str, str]:
    n = t.name
    if cause is Cause.ok:
        if extra == "no_grad_field":
            if cap.source == "watch":
                return (
                    f"{n} is in the backward graph of the model's output; its gradient norms over the "
                    "steps are in the timeline.",
                    "Nothing to fix unless the timeline shows a problem.",
                )
            if not cap.backward_calls:
                return (
                    f"{n} reaches the output, but no backward() ran inside the trace.",
                    "Call loss.backward() inside the `with gradviz.trace(...)` block to check gradients.",
                )
            return (
                f"{n} is in the backward graph, but its .grad was not filled (autograd.grad returns "
                "gradients instead of storing them).",
                "Nothing to fix if you use autograd.grad on purpose.",
            )
        return f"{n} received a finite, non-zero gradient{_norm(t.grad_norm)}.", "Nothing to fix."
    if cause is Cause.frozen:
        stale = ""
        if t.grad_norm is not None:
            stale = f" Its .grad still holds an old gradient{_norm(t.grad_norm)} from before it was frozen."
        return (
            f"{n} has requires_grad=False, so autograd never computes a gradient for it.{stale}",
            f"If it should learn, call `.requires_grad_(True)` on it (`model.{n}.requires_grad_(True)`) "
            "and make sure the optimizer holds it.",
        )
    if cause is Cause.unused:
        used = cap.ops[t.first_use].site if t.first_use >= 0 else None
        if not cap.backward_calls:
            return (
                f"{n} did not take part in computing the model's output.",
                "Check the forward: is the branch or submodule that uses it ever called?",
            )
        if used is not None:
            return (
                f"{n} was used{_at(used)}, but nothing computed from it reached the loss.",
                "Make sure that result feeds the loss (or drop the parameter if it is not needed).",
            )
        return (
            f"{n} was never used in the forward pass that produced the loss.",
            "Call the submodule / take the branch that uses it, or remove it (DDP also rejects unused "
            "parameters unless find_unused_parameters=True).",
        )
    if cause is Cause.unregistered:
        return _unregistered(t)
    if cause is Cause.not_in_optimizer:
        return (
            f"{n} gets a gradient{_norm(t.grad_norm)}, but no optimizer param group holds it, so it never "
            "changes.",
            "Build the optimizer from model.parameters(), or add a param group with it.",
        )
    if cause is Cause.cleared:
        how = (
            "zero_grad() / setting .grad to None" if where is None else f"the call{_at(where)}{_code(where)}"
        )
        return (
            f"{n} received a gradient{_norm(t.grad_seen)}, then {how} removed it before it was read.",
            "Read or log gradients after backward() and before zero_grad(); zero_grad belongs at the "
            "start of the next step (set_to_none=True is the default, so .grad becomes None).",
        )
    if cause is Cause.zero:
        op = _op_name(extra, cap)
        return (
            f"{n} has a gradient, but it is exactly zero everywhere: {op or 'an op on its path'}"
            f"{_at(where)} passes no gradient back (e.g. round/sign/floor, a dead ReLU, a mask).",
            "Use a differentiable alternative (a straight-through estimator for round/sign, LeakyReLU "
            "or a better init for dead ReLUs), or check the mask.",
        )
    if cause is Cause.nonfinite:
        op = _op_name(extra, cap)
        src = f" it first became non-finite in the backward of {op}{_at(where)}" if op else ""
        return (
            f"{n} has a NaN/Inf gradient{_norm(t.grad_norm)};{src or ' the source was not located'}.",
            "Guard that op's input (clamp / add an epsilon before sqrt, log or division), lower the "
            "learning rate, or use gradient clipping.",
        )
    if cause is Cause.error:
        return _error(t, extra if isinstance(extra, ErrorInfo) else cap.error)
    if isinstance(extra, Cut):
        return _cut(t, extra)
    return f"{n}: {cause.value}.", "See the gradviz documentation for this cause."


def _unregistered(t: Target) -> tuple[str, str]:
    n = t.name
    got = f"It gets a gradient{_norm(t.grad_norm)}, but" if t.grad_norm is not None else "It is"
    if t.unregistered_how == "copy":
        return (
            f"{n} is a copy of a Parameter (made with .to() / arithmetic), not a leaf: the optimizer "
            "never sees it and its .grad stays None; the real leaf is hidden behind it.",
            "Keep the nn.Parameter itself as the attribute and move the module with model.to(device).",
        )
    if t.unregistered_how in ("list", "dict"):
        box = "nn.ModuleList" if t.unregistered_how == "list" else "nn.ModuleDict"
        return (
            f"{n} belongs to a module kept in a plain Python {t.unregistered_how}. {got} it is not a "
            "registered parameter, so model.parameters() and the optimizer never see it.",
            f"Store those modules in an {box}.",
        )
    return (
        f"{n} is a plain tensor attribute with requires_grad=True. {got} it is not an nn.Parameter, so "
        "model.parameters() and the optimizer never see it.",
        f"Wrap it: `self.{n.rpartition('.')[2]} = nn.Parameter(...)`.",
    )


_CUT_TEXT = {
    "detach": (
        "its only path to the loss goes through .detach(){at}{code}, which cuts the gradient",
        "Remove the .detach() on that path (detach only values you deliberately do not train through).",
    ),
    "data": (
        "its only path to the loss goes through .data{at}{code}, which cuts the gradient silently",
        "Use the tensor itself instead of .data (use .detach() where you really want no gradient).",
    ),
    "no_grad": (
        "its only path to the loss ran with gradient tracking off{at}{code}{detail}",
        "Move that computation out of the torch.no_grad() / inference_mode() block.",
    ),
    "non_differentiable": (
        "its only path to the loss goes through {op}{at}{code}, which has no gradient",
        "Use a differentiable form (softmax weights instead of argmax indices, a soft mask "
        "instead of a comparison, float ops instead of integer casts).",
    ),
    "escaped": (
        "its value left torch through .{op}(){at}{code} and came back as a new tensor with no history",
        "Keep the computation in torch tensors; use .item()/.numpy() only for logging.",
    ),
    "checkpoint": (
        "it runs inside a reentrant torch.utils.checkpoint{at}{code} whose inputs do not require "
        "grad, so the checkpoint output has no gradient",
        "Pass use_reentrant=False to checkpoint (or make an input require grad).",
    ),
}


def _cut(t: Target, cut: Cut) -> tuple[str, str]:
    what, fix = _CUT_TEXT[cut.kind]
    detail = ""
    if cut.detail == "inference_mode":
        detail = " (inside torch.inference_mode())"
    elif cut.detail.startswith("grad_off_at="):
        detail = f" (gradients were turned off at {cut.detail.removeprefix('grad_off_at=')})"
    elif cut.detail == "function":
        detail = " (inside a custom autograd.Function's forward, without being passed to apply())"
    text = what.format(at=_at(cut.site), code=_code(cut.site), detail=detail, op=cut.op)
    return f"{t.name} gets no gradient: {text}.", fix


_ERROR_FIX = {
    "leaf_inplace": (
        "Write the result to a new tensor (`x = x * 2`, not `x[:] = x * 2` or `x.add_(...)`), or do the "
        "update under torch.no_grad() if it is an optimizer-style update."
    ),
    "inplace_saved": (
        "Replace the in-place op with its out-of-place form (`h = h * 2`, not `h.mul_(2)`), or clone the "
        "tensor before modifying it."
    ),
    "inference_saved": (
        "Create that tensor outside torch.inference_mode() (or .clone() it outside) before using it in a "
        "computation you backpropagate through."
    ),
    "graph_freed": "Run a fresh forward for each backward, or pass retain_graph=True to the first backward.",
    "non_scalar": "Reduce the loss to a scalar (e.g. .mean() or .sum()) or pass gradient= to backward().",
    "no_grad_root": (
        "Make sure the loss is computed from the model's output without .detach(), .data or torch.no_grad()."
    ),
}


def _error(t: Target, err: ErrorInfo | None) -> tuple[str, str]:
    if err is None:
        return f"{t.name} got no gradient because the traced code raised.", "Fix the error first."
    line = err.blame or err.site
    op = f"an in-place op{_at(line)}{_code(line)}"
    what = {
        "leaf_inplace": f"{op} modified a leaf that requires grad",
        "inplace_saved": f"{op} modified a tensor autograd had saved for backward",
        "inference_saved": f"a tensor made under inference_mode{_at(line)} was used in a differentiable op",
        "graph_freed": "backward ran a second time through a graph that was already freed",
        "non_scalar": f"backward(){_at(err.site)} was called on a non-scalar tensor without gradient=",
    }.get(err.kind, f"{err.type}: {err.message}{_at(line)}")
    return (
        f"{t.name} got no gradient because the {err.phase} raised: {what}.",
        _ERROR_FIX.get(err.kind, "Fix the error first; gradviz re-checks on the next trace."),
    )


def _op_name(node: object, cap: Capture) -> str:
    if not isinstance(node, GraphNode):
        return ""
    if node.op >= 0:
        return cap.ops[node.op].name
    return node.name.removesuffix("Backward0").removesuffix("Backward1").lower()
