"""The sentences for a path cut and a tensor kept out of training on purpose: what happened and what to
do (gradviz/verdicts/_messages.py puts them together with the other causes'; an error: _error_messages)."""

from __future__ import annotations

import re

from gradviz.records import (
    Cause,
    Cut,
    CutHow,
    Site,
    Target,
)
from gradviz.verdicts._evidence import Role
from gradviz.verdicts._text import at, code, norm

__all__ = [
    "cut_clause",
    "cut_text",
    "kept_fixed_text",
    "straight_through_text",
    "untrained_text",
]


# What a cut did, and its fix, by cause. Placeholders: the clause's subject ({path}: "its only path to the
# loss"), the cut's line ({at}, {code}), its op ({op}) and, for no_grad, where gradients were off ({detail}).
_CUT_TEXT: dict[Cause | str, tuple[str, str]] = {
    Cause.detach: (
        "{path} goes through .detach(){at}{code}, which cuts the gradient",
        "Remove the .detach() on that path.",
    ),
    Cause.data: (
        "{path} goes through .data{at}{code}, which cuts the gradient silently",
        "Use the tensor itself instead of .data.",
    ),
    Cause.no_grad: (
        "{path} ran with gradient tracking off{at}{code}{detail}",
        "Move that computation out of the torch.no_grad() / inference_mode() block.",
    ),
    Cause.non_differentiable: (
        "{path} goes through {op}{at}{code}, which has no gradient",
        "Use a differentiable stand-in for that op (softmax weights instead of argmax indices, a soft mask "
        "instead of a comparison, float values instead of integers).",
    ),
    Cause.escaped: (
        "its value left torch through .{op}(){at}{code} and came back as a new tensor with no history",
        "Keep the computation in torch tensors; use .item()/.numpy() only for logging.",
    ),
    "rebuilt": (
        "its values were copied into a new tensor by torch.{op}(){at}{code}, which has no history",
        "Combine tensors with torch.stack / torch.cat (they keep the graph), not torch.tensor(list).",
    ),
    Cause.checkpoint: (
        "it runs inside a reentrant torch.utils.checkpoint{at}{code} whose inputs do not require "
        "grad, so the checkpoint output has no gradient",
        "Pass use_reentrant=False to checkpoint (or make an input require grad, e.g. "
        "model.enable_input_require_grads() for Hugging Face models).",
    ),
}
# escaped, when what came back through NumPy may be other values of the same shape (Cut.maybe)
_MAYBE_BACK = (
    "its value left torch through .{op}(){at}{code}, and a tensor of that shape came back as a new tensor "
    "with no history: it may hold these values, or those that left torch {others} (values changed in "
    "NumPy on the way back cannot be told apart)"
)


def _others(sites: tuple[Site | None, ...]) -> str:
    """Where the other values left torch: "at f.py:8 (`a = t.numpy()`)", joined by "or"."""
    return " or ".join(
        f"{at(site).strip()}{code(site)}" if site is not None else "elsewhere" for site in sites
    )


_GRAD_WITHOUT_GRAPH = (
    "{path} goes through the gradient torch.autograd.grad returned{at}{code}: without create_graph=True "
    "that gradient carries no graph",
    "Pass create_graph=True to torch.autograd.grad: a loss computed from a gradient (a gradient penalty, a "
    "path-length regulariser) needs the gradient's own graph.",
)
_HIDDEN = (
    "{path} goes through {op}{at}{code}, which runs as TorchScript and returns its result without a "
    "gradient: inside it, where gradviz sees no op, the path is cut (.detach(), no_grad, argmax, an integer "
    "index)",
    "Look inside that module's forward for the cut (or trace the module before torch.jit.script to see the "
    "line).",
)
_NO_GRAD_DETAIL = {
    CutHow.inference_mode: " (inside torch.inference_mode())",
    CutHow.in_function: " (inside a custom autograd.Function's forward, without being passed to apply())",
}


def cut_clause(cut: Cut, path: str = "its only path to the loss") -> tuple[str, str]:
    """(what the cut did, its fix): one clause whose subject is ``path``, and one sentence."""
    if cut.how is CutHow.grad_switch:  # site is the user's switch; op_site the op it covered
        covered = f" around `{cut.op_site.code}`" if cut.op_site is not None and cut.op_site.code else ""
        covered += f" at {cut.op_site.where}" if cut.op_site is not None else ""
        switch = f"`{_code_of(cut.site)}`{at(cut.site)}"
        text = f"{path} ran with gradient tracking off: {switch} turned it off{covered}"
        if cut.op_site is not None and cut.op_site.library:
            text += " (library code)"
        return text, _switch_fix(_code_of(cut.site))
    if cut.how is CutHow.grad_without_graph:
        what, fix = _GRAD_WITHOUT_GRAPH
    elif cut.how is CutHow.hidden:
        what, fix = _HIDDEN
    else:
        what, fix = _CUT_TEXT["rebuilt" if cut.how is CutHow.rebuilt else cut.kind]
        if cut.kind is Cause.non_differentiable:
            fix = _NON_DIFFERENTIABLE_FIX.get(cut.op.strip("_"), fix)
        elif cut.kind is Cause.escaped and cut.maybe and not cut.surely and cut.how is not CutHow.rebuilt:
            what = _MAYBE_BACK
    text = what.format(
        path=path,
        at=at(cut.site),
        code=code(cut.site),
        detail=_NO_GRAD_DETAIL.get(cut.how, ""),
        op=cut.op,
        others=_others(cut.maybe),  # code may hold braces: filled in by format, never formatted itself
    )
    if cut.op_site is not None and cut.op_site != cut.site:
        where = "in library code" if cut.op_site.library else "the op"
        text += f"; {where}: {cut.op} at {cut.op_site.where}{code(cut.op_site)}"
    return text, fix


# Ops with no gradient, and the differentiable stand-in that keeps what the forward computes.
_ARGMAX = (
    "Let the gradient through a soft choice: `F.gumbel_softmax(logits, tau=1.0, hard=True)` (one-hot "
    "forward, softmax gradient), or weight by `logits.softmax(-1)` instead of indexing with the argmax."
)
_COMPARISON = (
    "Use a soft mask: `torch.sigmoid((x - threshold) / temperature)`, or keep the hard one in the forward "
    "with a straight-through: `soft + ((x > threshold).float() - soft).detach()`."
)
_INTEGER = (
    "Keep the values float (integer tensors carry no gradient): round with a straight-through, "
    "`x + (x.round() - x).detach()`, or, for indices, let the gradient flow through what you gather with "
    "them."
)
_NON_DIFFERENTIABLE_FIX = {
    **dict.fromkeys(("argmax", "argmin", "argsort", "topk", "sort", "max", "min", "multinomial"), _ARGMAX),
    **dict.fromkeys(("gt", "lt", "ge", "le", "eq", "ne", "greater", "less", "isclose", "sign"), _COMPARISON),
    **dict.fromkeys(("long", "int", "short", "byte", "bool", "to", "type", "floor_divide"), _INTEGER),
}
# The other reading of a cut that may be deliberate: the part behind it is meant to stay fixed.
_STAY_FIXED = {
    Cause.detach: "nothing to fix (the .detach() saves its backward)",
    Cause.no_grad: "nothing to fix (no_grad saves its backward)",
    Cause.data: "use `.detach()` instead of `.data` (the same cut, but autograd still sees in-place changes)",
    Cause.escaped: "compute it under `torch.no_grad()` instead of taking the values out of torch",
}


def cut_text(t: Target, cut: Cut) -> tuple[str, str]:
    if cut.how in (CutHow.returns_none, CutHow.no_gradient_out):
        return _blocked(t, cut)
    text, fix = cut_clause(cut)
    stay = _STAY_FIXED.get(cut.kind) if cut.how is not CutHow.grad_without_graph else None
    if stay is not None:  # intent unclear: a cut is also how a frozen part or a target is kept fixed
        fix = f"If it should learn: {fix[0].lower()}{fix[1:]} If it is meant to stay fixed: {stay}."
    return f"{t.name} gets no gradient: {text}.", fix


def _switch_fix(line: str) -> str:
    """The fix for gradients turned off by ``line``: a ``with`` block, a flag, or a decorated function."""
    if "set_grad_enabled" in line:
        return "Pass True to torch.set_grad_enabled(...) on that line."
    if line.lstrip().startswith("with") or "no_grad" in line or "inference_mode" in line:
        return _CUT_TEXT[Cause.no_grad][1]
    return (
        "Remove the @torch.no_grad() (or @torch.inference_mode()) decorator from the function called on that "
        "line, or call the layers outside it."
    )


def _code_of(site: Site | None) -> str:
    return site.code if site is not None and site.code else "torch.no_grad()"


def _blocked(t: Target, cut: Cut) -> tuple[str, str]:
    """A node above the target received a gradient and passed none on to it."""
    if cut.how is CutHow.returns_none:
        return (
            f"{t.name} gets no gradient: the backward of the custom autograd.Function {cut.op} (applied"
            f"{at(cut.site)}{code(cut.site)}) returns None for the input that depends on it, so nothing "
            "arrives.",
            f"Return a gradient for that input from {cut.op}.backward (None means 'no gradient').",
        )
    return (
        f"{t.name} gets no gradient: the backward of {cut.op}{at(cut.site)}{code(cut.site)} passes none to "
        "the input that depends on it.",
        "Use an op that is differentiable in that input.",
    )


# -- intent: tensors left out of training on purpose --------------------------------------------------------


def untrained_text(t: Target, role: Role) -> tuple[str, str]:
    """Gets a gradient, no optimizer holds it: the fix depends on how it meets the tensors that learn."""
    n = t.name
    head = (
        f"{n} gets a gradient{norm(t.grad_norm)}, but no optimizer param group holds it, so it never changes"
    )
    owner = f"model.{role.module or n}" if t.kind == "parameter" else n
    part = f"`{role.module}`" if role.module else "it"  # what the fix acts on: the module around it
    where = f"{role.op}{at(role.site)}{code(role.site)}"
    if role.kind == "target" and role.leaks:  # the target side also trains a shared part: no_grad it all
        return (
            f"{head}. {part[0].upper()}{part[1:]} is a target (a target network, a teacher): its output "
            f"is the value that {role.trained} must match in {where}; and {role.leaks}, which the optimizer "
            "trains, also gets a gradient through this target side, so each step moves the target too.",
            "Compute the whole target under `with torch.no_grad():` (or `.detach()` it before the loss): "
            f"that stops the gradient to {part} and to {role.leaks} through the target, and saves its "
            f"backward (`{owner}.requires_grad_(False)` alone would still train {role.leaks} through it).",
        )
    if role.kind == "target":
        meets = "its output meets that of" if role.module else "what is computed from it meets that of"
        is_a = "is a target" if role.sure else "looks like a target"
        return (
            f"{head}. {part[0].upper()}{part[1:]} {is_a} (a target network, a teacher): {meets} "
            f"{role.trained}, which the optimizer trains, only in {where}, as the value to match.",
            f"Keep {part} fixed and stop computing its gradients: run its forward under "
            f"`with torch.no_grad():` (or `.detach()` its output), or call `{owner}.requires_grad_(False)` "
            "once; that saves its backward. Training it on this loss would make the target chase the "
            "prediction."
            + (
                ""
                if role.sure
                else " If it is not a target but a second model that should learn too (a two-tower model): "
                "give its parameters to the optimizer."
            ),
        )
    learn = "build the optimizer from model.parameters() (or add a param group with it)"
    if role.kind == "through":
        said = (
            f"The optimizer trains {role.trained} through {part}: the gradient of {role.trained} flows "
            f"through {where}."
        )
        stay = (
            f"call `{owner}.requires_grad_(False)` for this step; the gradient still flows through it to "
            f"{role.trained}, and its own is no longer computed"
        )
        when = (
            f"while {role.trained} learns (a GAN's discriminator in the generator's step, a frozen backbone)"
        )
        learn = "add its parameters to the optimizer"
    elif role.kind == "feeds":
        said = f"The output of {part} enters {role.trained}, which the optimizer trains, in {where}."
        stay = (
            f"`.detach()` its output where it enters {role.trained} (as in `D(fake.detach())`), or call "
            f"`{owner}.requires_grad_(False)`; that saves its backward"
        )
        when = "(a frozen feature extractor, a GAN's generator in the discriminator's step)"
    else:
        said, stay, when = "", f"call `{owner}.requires_grad_(False)` (saves its backward)", ""
    if role.quiet is not None:  # it also ran under no_grad: it looks meant to stay fixed, say that first
        said += (
            f" {part[0].upper()}{part[1:]} also runs under torch.no_grad(){at(role.quiet)}{code(role.quiet)}."
        )
        return (
            f"{head}. {said.strip()}",
            f"It looks meant to stay fixed: {stay}. If it should learn after all: {learn}.",
        )
    if role.kind == "through":
        fix = f"If {part} is meant to stay fixed {when}: {stay}. If it should learn from this loss too: "
        fix += f"{learn}."
    else:
        fix = (
            f"If it should learn: {learn}. If it is meant to stay fixed{' ' + when if when else ''}: {stay}."
        )
    return f"{head}. {said}".rstrip() if said else f"{head}.", fix


def kept_fixed_text(t: Target, cut: Cut, role: Role) -> tuple[str, str]:
    """Every path was cut, and past the cut its output is only a target: the cut is the design."""
    text, _ = cut_clause(cut)
    where = f"{role.op}{at(role.site)}{code(role.site)}"
    fix = "Nothing to fix: this is how a target network or a teacher stays fixed, and its backward is saved."
    if cut.kind is Cause.data:
        fix += (
            " Prefer `.detach()` or `torch.no_grad()` to `.data`, which also hides in-place changes from "
            "autograd."
        )
    elif cut.kind is Cause.escaped:
        fix += " `torch.no_grad()` around its forward does the same without copying the values out of torch."
    return (
        f"{t.name} gets no gradient, by design: {text}. Past it, its output is only the value that "
        f"{role.trained} is trained to match, in {where}: a target or a teacher, kept fixed.",
        fix,
    )


# ``x + (f(x) - x).detach()`` and ``(f(x) - x).detach() + x``, to name x and f(x) in the fix as the user does
_STRAIGHT = (
    re.compile(r"(?P<x>[\w.]+)\s*\+\s*\((?P<f>.+?)\s*-\s*(?P=x)\s*\)\s*\.(?:detach\(\)|data)"),
    re.compile(r"\((?P<f>.+?)\s*-\s*(?P<x>[\w.]+)\s*\)\s*\.(?:detach\(\)|data)\s*\+\s*(?P=x)\b"),
)


def straight_through_text(t: Target, cut: Cut, join: Site | None, misplaced: Site | None) -> tuple[str, str]:
    x, fx = "x", "f(x)"
    source = cut.site.code if cut.site is not None else ""
    for pattern in _STRAIGHT:
        found = pattern.search(source)
        if found:
            x, fx = found["x"], found["f"].strip()
            break
    line = f"{at(join or cut.site)}{code(join or cut.site)}"
    loss = f"`F.mse_loss({fx}, {x}.detach())`"
    if misplaced is not None:
        return (
            f"{t.name} gets no gradient: the loss{at(misplaced)}{code(misplaced)} is computed on the output "
            f"of the straight-through estimator{line}, whose detached branch by design sends the gradient to "
            f"{x} and none to {fx}: that loss trains {x}, not {fx}, and no other loss reaches {fx} with a "
            "gradient.",
            f"Keep the straight-through line; compute that loss on {fx} itself, before it: {loss} (VQ-VAE's "
            "codebook loss).",
        )
    return (
        f"{t.name} gets no gradient: its only path to the loss is the detached branch of the "
        f"straight-through estimator{line}, which by design sends the gradient to {x} and none to {fx}, and "
        f"no loss reaches {fx} itself with a gradient.",
        f"Keep the straight-through line. Give {fx} a loss of its own, computed before it: {loss} (VQ-VAE's "
        "codebook loss); if it is updated another way (an EMA codebook), call `.requires_grad_(False)` on "
        "it.",
    )
