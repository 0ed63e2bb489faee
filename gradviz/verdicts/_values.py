"""What to say about a gradient that arrived but is unusable: exactly zero, or NaN/Inf."""

from __future__ import annotations

import math
import re

from gradviz.records import Birth, Capture, Site, Target
from gradviz.verdicts._evidence import ZeroWhy
from gradviz.verdicts._text import at, code, norm


def zero(t: Target, why: ZeroWhy, cap: Capture) -> tuple[str, str]:
    n = t.name
    head = f"{n} received a gradient that is exactly zero everywhere"
    where = f"{at(why.site)}{code(why.site)}"
    if why.kind == "zero_weight":
        return _zero_weight(t, why, cap, head, where)
    if why.kind == "cancel":
        named = list(dict.fromkeys(why.via))
        paths = f" (one through {', one through '.join(named)})" if len(named) >= 2 else ""
        rejoin = f" where they meet again{at(why.rejoin)}{code(why.rejoin)}" if why.rejoin else ""
        lines = " ".join(s.code for s in (why.site, why.rejoin) if s is not None)
        if why.resampled or ("log_prob" in lines and "rsample" in lines):  # a density at its own sample
            fix = (
                "Score the sample without its own path: `d.log_prob(a.detach())` with `a = d.sample()` "
                "(REINFORCE); or keep `a = d.rsample()` and drop the log_prob term, which a pathwise "
                "(reparameterised) loss does not need."
            )
        else:
            fix = (
                "Check the formula: the loss does not depend on this value (`f(x) - f(x)` is constant); if "
                "it should learn, one path must not cancel the other."
            )
        return (
            f"{head}: from where it is used{where}, it reaches the loss by {why.paths} paths{paths} whose "
            f"gradients add up to exactly zero{rejoin} (they cancel).",
            fix,
        )
    if why.kind == "summed":
        held = (
            " (and no optimizer holds it, so it would not be trained anyway)"
            if t.in_optimizer is False
            else ""
        )
        return (
            f"{head}: the {why.paths} backward passes accumulated into its .grad gave non-zero gradients "
            f"that add up to exactly zero (they cancel){held}.",
            "Step (or zero .grad) between the backwards if each should train it; if their sum is the loss, "
            "its gradient with respect to this tensor is zero (check the formula).",
        )
    if why.kind == "dead_relu":
        units = f"all {why.units} of its units are" if why.units > 1 else "its units are"
        if why.feeds:
            return (
                f"{head}: the {why.op}{where} outputs 0 for every input of the batch ({units} dead), and {n} "
                "multiplies that output, so its gradient is zero too.",
                "Revive the dead units before it: LeakyReLU/GELU, a smaller learning rate or a better init "
                "(e.g. Kaiming); check the inputs' scale.",
            )
        return (
            f"{head}: the {why.op}{where} outputs 0 for every input of the batch: {units} dead (100% of "
            "the units on this parameter's path), so it passes no gradient back.",
            "Use LeakyReLU/GELU, a smaller learning rate or a better init (e.g. Kaiming) to revive dead "
            "units; check the inputs' scale.",
        )
    if why.kind == "step":
        return f"{head}: {why.op}{where} is a step function: its gradient is zero everywhere.", _step_fix(
            why.op
        )
    if why.kind == "where":
        return (
            f"{head}: {why.op}{where} selects the other value at every position, so the gradient of this "
            "branch is zero.",
            "Check the condition or mask: it never picks this value.",
        )
    if why.kind == "mul":
        return (
            f"{head}: the multiplication{where} scales it by a factor that is zero wherever it matters.",
            "Check that factor (a mask, a gate, a weight) for zeros.",
        )
    if why.kind == "discarded":
        return (
            f"{head}: {why.op}{where} passes back no gradient — the values computed from {n} are "
            "discarded there (sliced off, masked, or replaced).",
            f"Check that op: the loss does not depend on the part of its input that comes from {n}.",
        )
    return (
        f"{head}: an op on its path passes no gradient back (e.g. round/sign/floor, a dead ReLU, a mask); "
        "the per-node gradient norms that would locate it were not recorded.",
        "Trace with node_norms=True (the default) to find the op.",
    )


def _step_fix(op: str) -> str:
    """A straight-through estimator for the step function ``op``: its values forward, identity backward."""
    op = op.strip("_").removesuffix("_")
    if op == "sign":
        return (
            "Use a straight-through estimator (the forward keeps the signs, the backward passes the gradient "
            "where |x| <= 1): `s = x.clamp(-1, 1); y = s + (x.sign() - s).detach()`."
        )
    if op in ("round", "floor", "ceil", "trunc"):
        return (
            f"Use a straight-through estimator (identity gradient): `y = x + (torch.{op}(x) - x).detach()`."
        )
    return (
        f"Use a soft stand-in for {op or 'the step'}: `torch.sigmoid(x / temperature)`, or a "
        "straight-through `soft + (hard - soft).detach()`."
    )


def _zero_weight(t: Target, why: ZeroWhy, cap: Capture, head: str, where: str) -> tuple[str, str]:
    n, w = t.name, why.weight
    what = (
        f"{head}: {w} is all zeros, and the {why.op}{where} multiplies the gradient flowing back to {n} by it"
    )
    if why.by_design:
        return (
            f"{what}. {w} gets a gradient of its own, so this step moves it and {n} gets gradients from the "
            "next step on: a factor that starts at zero by design (LoRA's B, a zero-initialised projection) "
            "begins this way.",
            f"Nothing to fix at the first step. If {n}'s gradient stays zero over steps, check that {w} is "
            "in the optimizer with a learning rate above 0.",
        )
    weight = next((x for x in cap.targets if x.name == w), None)
    if weight is not None and not weight.requires_grad:
        stuck = f"{w} is frozen, so it stays zero and {n} never learns"
    elif weight is not None and weight.in_optimizer is False:
        stuck = f"no optimizer holds {w}, so it stays zero and {n} never learns"
    else:  # its own gradient is zero or absent too: both factors start at zero
        stuck = f"{w} gets no usable gradient either (both factors are zero), so neither ever learns"
    return (
        f"{what}; {stuck}.",
        f"Initialise one of the two factors with non-zero values: a low-rank adapter starts its A random and "
        f"its B at zero (`nn.init.kaiming_uniform_(A.weight, a=math.sqrt(5))`, `nn.init.zeros_(B.weight)`); "
        f"or check what zeroed {w}.",
    )


def nonfinite(t: Target, birth: Birth | None, cap: Capture) -> tuple[str, str]:
    kind = _kind(t.delivered_norm)
    if birth is None:
        return (
            f"{t.name} received {_a(kind)} gradient; where it was born was not "
            "located (the per-node gradient norms were not recorded, or the graph was not drawn that far).",
            "Guard divisions, sqrt and log (clamp / add an epsilon), lower the learning rate, or clip "
            "gradients.",
        )
    became = ""
    if birth.kind == "inf" and kind == "NaN":  # sqrt'(0) = inf, then 0 x inf through a square
        became = " (Inf there; it became NaN on its way to the parameter, where 0 × Inf = NaN)"
    return f"{t.name} received {_a(kind)} gradient: {born(birth, cap)}{became}.", fix_for(birth)


def added_up(t: Target, before: float | None, backwards: int) -> tuple[str, str]:
    """``.grad`` is NaN/Inf though what the traced backwards delivered was finite."""
    kind = _kind(t.grad_norm)
    if before is not None and not math.isfinite(before):
        return (
            f"{t.name}'s .grad is {kind}, but the gradient this step's backward delivered is finite: "
            f"the {_kind(before)} was already in .grad when the trace began, left from an earlier step, and "
            "the new gradient was added to it.",
            "Call optimizer.zero_grad() at the start of every step (or set .grad = None); to find the step "
            "whose gradient first went NaN/Inf, run gradviz.watch(model, optimizer) over the training.",
        )
    return (
        f"{t.name}'s .grad is {kind}, but each of the {backwards} backward passes delivered a finite "
        f"gradient: added up in .grad, they overflowed its dtype's range.",
        "Scale each loss down before backward (divide by the number of accumulation steps), keep the "
        "gradients in float32, or call zero_grad() between the backwards that should not add up.",
    )


def nonfinite_loss(t: Target, kind: str, birth: Birth | None, cap: Capture) -> tuple[str, str]:
    value = "NaN" if kind == "nan" else "Inf"
    what = born(birth, cap) if birth is not None else "where it was born was not located"
    return (
        f"The loss is {value}, and {t.name} takes part in computing it: its gradient{norm(t.delivered_norm)} "
        f"is finite but meaningless, and a step with it spoils the model. {what[0].upper()}{what[1:]}.",
        fix_for(birth) if birth is not None else "Find the op that makes the loss non-finite and guard it.",
    )


def born(birth: Birth, cap: Capture) -> str:
    """One clause: where and how the NaN/Inf was born."""
    value = "NaN" if birth.kind == "nan" else "Inf"
    lib = f" (in {_short(birth.op_site)}{code(birth.op_site)})" if birth.op_site is not None else ""
    how = f" {birth.detail}" if birth.detail else ""
    if birth.phase == "backward":
        op = f"{birth.op_name}{at(birth.site)}{code(birth.site)}{lib}"
        text = f"it was born in the backward of {op}"
        text += f" —{how}" if birth.detail else f", which turned a finite gradient into {value}"
        if birth.masked_by >= 0:
            where = at(cap.ops.user_site(birth.masked_by))
            text += f"; the torch.where{where} above it sends that branch a zero gradient"
        return text
    if birth.phase == "input" and birth.detail.startswith("the parameter"):
        return f"{birth.detail}; {birth.op_name}{at(birth.site)}{code(birth.site)}{lib} read it"
    if birth.phase == "input":
        return (
            f"{value} came in from outside the traced code: the input of {birth.op_name}{at(birth.site)}"
            f"{code(birth.site)}{lib} already held it (the data, or a parameter spoiled by an earlier step)"
        )
    text = f"the forward of {birth.op_name}{at(birth.site)}{code(birth.site)}{lib} produced {value}{how}"
    if birth.masked_by >= 0:
        hiding = cap.ops[birth.masked_by] if birth.masked_by < len(cap.ops) else None
        name = hiding.name if hiding is not None else "a later op"
        name = "torch.where" if name == "where" else name
        hider = cap.ops.user_site(birth.masked_by)
        text += (
            f"; {name}{at(hider)} hid it from the output, but its backward still "
            f"multiplies by it (0 × {value} = NaN)"
        )
    return text


_ROOTS = ("sqrt", "rsqrt", "norm", "linalg_vector_norm", "cdist", "pdist", "dist", "std", "var")
_LOGS = ("log", "log2", "log10", "log1p")
_DIVS = ("div", "true_divide", "truediv", "reciprocal", "floor_divide", "rtruediv", "rdiv")
_SOFTMAX = ("softmax", "log_softmax", "scaled_dot_product_attention", "multi_head_attention_forward")
_POWS = ("pow", "float_power")
_ARC = ("acos", "asin", "atanh")
# a log applied to a softmax or a sigmoid: log(softmax(z)), softmax(z).log(), torch.log(torch.sigmoid(z))
_LOG_OF = re.compile(
    r"log\(\s*(?:torch\.|F\.|nn\.functional\.)?(softmax|sigmoid)\(|(softmax|sigmoid)\([^`]*\)\.log\("
)
# a value at which each op is finite, for the inner where of the double-where pattern
_SAFE = {**dict.fromkeys((*_ROOTS, *_LOGS, *_DIVS, *_POWS), "1.0"), **dict.fromkeys(_ARC, "0.0")}


def fix_for(birth: Birth) -> str:
    """A fix that fits the op where the NaN/Inf was born, with the code for it."""
    op = birth.op_name.strip("_").removesuffix("_")
    if "overflow" in birth.detail:
        op = "an overflow"  # whatever the op: the values outgrew the dtype
    if birth.phase == "input":
        return (
            "Check the data for NaN/Inf (torch.isfinite(batch).all()), and the parameters: a NaN from an "
            "earlier step stays in the weights; lower the learning rate or clip gradients."
        )
    if op == "multi_head_attention_forward":  # nn.MultiheadAttention: a sequence whose mask hides every key
        return (
            "Drop the sequences that are all padding before the attention, or leave one key unmasked in "
            "each (`key_padding_mask[:, 0] = False`, the first token); nn.MultiheadAttention gives NaN for a "
            "query that may see no key at all."
        )
    if op in _SOFTMAX:  # a row masked entirely: a where after it does not help, its backward is NaN too
        return (
            "Keep at least one unmasked key per row: let each query see itself "
            "(`mask = mask | torch.eye(T, dtype=torch.bool)`), or drop the sequences that are all padding; "
            "`F.scaled_dot_product_attention(q, k, v, attn_mask=mask)` gives 0 for a fully masked row "
            "instead of NaN."
        )
    if birth.masked_by >= 0:
        f = f"torch.{op}" if op in _SAFE else "f"
        safe = _SAFE.get(op, "safe_value")
        return (
            "Use the double-where pattern: make the input safe before the op, then select — "
            f"`torch.where(mask, {f}(torch.where(mask, x, {safe})), other)` — so neither branch is NaN."
        )
    code = birth.site.code if birth.site is not None else ""
    if op in ("sqrt", "rsqrt") and birth.phase == "forward":  # the forward made NaN: the input went negative
        return (
            "Clamp the input to non-negative values before the root: `torch.sqrt(x.clamp_min(0) + 1e-12)` (a "
            "variance computed as E[x²] - E[x]² can dip below 0 by rounding: use `x.var()` instead)."
        )
    if op in _ROOTS:
        return (
            "Add an epsilon inside the root, whose gradient is infinite at 0: `torch.sqrt(x + 1e-12)`; for a "
            "distance or a norm, `((a - b).pow(2).sum(-1) + 1e-12).sqrt()` instead of torch.cdist / .norm()."
        )
    log_of = _LOG_OF.search(code) if op in _LOGS else None
    if log_of is not None and "softmax" in log_of.group(0):
        return (
            "Take the log inside the softmax: `F.log_softmax(logits, dim=-1)` instead of "
            "`softmax(...).log()`."
        )
    if log_of is not None:
        return (
            "Take the log inside the sigmoid: `F.logsigmoid(x)`, or `F.binary_cross_entropy_with_logits` on "
            "the logits instead of a log of sigmoid."
        )
    if op in _LOGS:
        return "Clamp the input away from zero and negatives: `torch.log(x.clamp_min(1e-12))`."
    if op in _DIVS:
        return (
            "Guard the denominator: add an epsilon (`x / (d + 1e-8)`) or clamp it away from zero; to "
            "normalise, `(x - x.mean()) / (x.std() + 1e-5)` or `F.normalize(x, dim=-1)` (eps built in)."
        )
    if op in _POWS:
        return (
            "Add an epsilon to the base before a fractional power (`(x + 1e-12) ** 0.5`), or clamp it "
            "positive (`x.clamp_min(eps) ** p`)."
        )
    if op in _ARC:
        return (
            "Clamp the input inside the domain, where the gradient is finite: "
            f"`torch.{op}(x.clamp(-1 + 1e-6, 1 - 1e-6))` (a cosine similarity reaches ±1 exactly for "
            "parallel vectors)."
        )
    return (
        "Values overflow: lower the learning rate, clip gradients (torch.nn.utils.clip_grad_norm_), use a "
        "loss scale or bf16/fp32 for that op, and check the inputs' scale."
    )


def _a(kind: str) -> str:
    return f"an {kind}" if kind == "Inf" else f"a {kind}"


def _kind(value: float | None) -> str:
    """ "NaN" or "Inf" for a non-finite norm (a norm is NaN when any element is NaN)."""
    return "Inf" if value is not None and value == value else "NaN"


def _short(site: Site | None) -> str:
    return site.where if site is not None else "library code"
