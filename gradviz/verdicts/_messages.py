"""One plain sentence saying what happened, and one saying what to do, for each cause and its evidence."""

from __future__ import annotations

from gradviz.records import (
    Capture,
    Cause,
    GradState,
    Site,
    Target,
)
from gradviz.verdicts import _values
from gradviz.verdicts._cut_messages import (
    cut_text,
    kept_fixed_text,
    straight_through_text,
    untrained_text,
)
from gradviz.verdicts._error_messages import error_text
from gradviz.verdicts._evidence import (
    AddedUp,
    Born,
    Cleared,
    Consumed,
    Created,
    CutPath,
    Evidence,
    Hidden,
    KeptFixed,
    LossNonfinite,
    NoGradField,
    Nothing,
    NotRequested,
    Raised,
    StepRead,
    StraightThrough,
    Undecided,
    Unreadable,
    Untrained,
    ZeroWhy,
    unreachable,
)
from gradviz.verdicts._text import at, code, norm

__all__ = ["explain"]


def explain(cause: Cause, t: Target, evidence: Evidence, cap: Capture) -> tuple[str, str]:
    """(message, fix) for target ``t``, given the cause the rules decided and their evidence."""
    message, fix = _explain(cause, t, evidence, cap)
    stale = "" if isinstance(evidence, AddedUp) else _stale(cause, t)  # (its message says it)
    return message + stale + _opaque(cause, t), fix


def _opaque(cause: Cause, t: Target) -> str:
    """What cannot be seen inside a TorchScript module."""
    if not t.opaque or cause in (
        Cause.ok,
        Cause.frozen,
        Cause.unregistered,
        Cause.not_requested,
        Cause.non_differentiable,
    ):
        return ""
    return (
        f" ({t.opaque} runs as TorchScript: gradviz sees it called and what it returns, not the ops inside "
        "it; a cut or a NaN inside it is reported at its call.)"
    )


def _stale(cause: Cause, t: Target) -> str:
    """A sentence on a .grad that already held a value when the traced backward began."""
    if t.grad_before is None or cause is Cause.frozen:
        return ""
    if t.grad_before == 0:  # zero_grad(set_to_none=False): a zero tensor, the normal start of a step
        if cause is Cause.ok or t.delivered:
            return ""
        return (
            " Its .grad is a zero tensor from before the trace (zero_grad(set_to_none=False)): this "
            "backward added nothing to it."
        )
    if cause is Cause.ok or t.delivered:
        return (
            f" Its .grad already held a gradient{norm(t.grad_before)} from before the trace, and this one "
            "was added to it (no zero_grad() since the last step?)."
        )
    return (
        f" Its .grad holds a gradient{norm(t.grad_before)} left from before the trace: that value is old, "
        "this backward added nothing to it."
    )


def _explain(cause: Cause, t: Target, evidence: Evidence, cap: Capture) -> tuple[str, str]:
    match evidence:
        case Nothing():
            return _plain(cause, t, cap)
        case Created(site):
            return _created(t, site)
        case Cleared(_, "unseen"):
            return (
                f"{t.name} received a gradient{norm(t.delivered_norm)}, and its .grad is all zeros now: code "
                "gradviz does not see into (a C++ extension, a communication hook, TorchScript) wrote them.",
                "Look for what writes into .grad between backward() and the optimizer step (a hook, a "
                "gradient clip or mask).",
            )
        case Cleared(site, written) if written.startswith("written by "):
            op = written.removeprefix("written by ")
            call = f"the call{at(site)}{code(site)}"
            return (
                f"{t.name} received a gradient{norm(t.delivered_norm)}, then {call} left zeros in its "
                f".grad ({op}), so its step has nothing to learn from.",
                "Check what that call scales or fills the gradient with: a max_norm of 0 in "
                "clip_grad_norm_, a mask or a factor of zeros. If the tensor is meant not to learn, "
                "requires_grad_(False) says so and skips its gradient.",
            )
        case Cleared(site):
            how = "zero_grad() / setting .grad to None" if site is None else f"the call{at(site)}{code(site)}"
            return (
                f"{t.name} received a gradient{norm(t.delivered_norm)}, then {how} removed it before it was "
                "read.",
                "Read or log gradients after backward() and before zero_grad(); zero_grad belongs at the "
                "start of the next step (set_to_none=True is the default, so .grad becomes None).",
            )
        case StepRead(site):
            how = "zero_grad() / setting .grad to None" if site is None else f"the call{at(site)}{code(site)}"
            now = "None" if t.grad_state == GradState.none else "zero"
            return (
                f"{t.name} received a gradient{norm(t.delivered_norm)}, which the optimizer step used; then "
                f"{how} removed it, so .grad is {now} now. It learns.",
                "Nothing to fix for training. To read gradients, read them after backward() and before "
                "zero_grad().",
            )
        case Consumed():
            return (
                f"{t.name} received a finite, non-zero gradient{norm(t.delivered_norm)}, which a hook took "
                "during backward (an optimizer step fused into backward with "
                "register_post_accumulate_grad_hook): .grad is None afterwards by design.",
                "Nothing to fix.",
            )
        case NotRequested(site):
            return (
                f"{t.name} was not asked for: the backward{at(site)}{code(site)} reached it but computed "
                "gradients only for the inputs it was given (inputs= / torch.autograd.grad), and it is not "
                "among them.",
                "Nothing to fix if that is intended (a GAN's generator step, an inner loop); if it should "
                "learn from this loss, add it to inputs= (or call backward() without inputs=).",
            )
        case CutPath(cut):
            return cut_text(t, cut)
        case Untrained(role):
            return untrained_text(t, role)
        case KeptFixed(cut, role):
            return kept_fixed_text(t, cut, role)
        case StraightThrough(cut, join, misplaced):
            return straight_through_text(t, cut, join, misplaced)
        case Hidden(how, path, site):
            code_kind = "torch.compile'd code" if how == "torch.compile" else "TorchScript"
            where = f" ({path})" if path else ""
            return (
                f"{t.name} gets no gradient: it belongs to {code_kind}{where}, whose ops gradviz cannot see, "
                f"and the gradient coming back through its output{at(site)}{code(site)} reaches everything "
                "but it. Inside that code its path is cut (.detach(), .data, no_grad, argmax, an integer "
                "index) or it is not used.",
                "Trace this step once on the uncompiled model (gradviz.trace(model) before torch.compile / "
                "model.compile(), or the module before torch.jit.script) to see the line; what torch "
                "computes is the same.",
            )
        case Raised(error):
            return error_text(t, error, cap)
        case Born(birth):
            return _values.nonfinite(t, birth, cap)
        case AddedUp(before, backwards):
            return _values.added_up(t, before, backwards)
        case LossNonfinite(value, birth):
            return _values.nonfinite_loss(t, value, birth, cap)
        case ZeroWhy():
            return _values.zero(t, evidence, cap)
        case NoGradField(why):
            return _no_grad_field(t, why)
        case Undecided(failure):
            held = {
                GradState.none: "None",
                GradState.zero: "exactly zero",
                GradState.finite: f"a finite, non-zero gradient{norm(t.grad_norm)}",
                GradState.nonfinite: "a NaN/Inf gradient",
                GradState.unknown: "a gradient whose values cannot be read here",
            }[t.grad_state]
            return (
                f"gradviz could not decide why for {t.name}: {failure}, so it stopped recording. What is "
                f"known: when the trace ended, its .grad held {held}.",
                "Your step ran as it does without gradviz. Please report the error (the warning shows it); "
                "until then, check this parameter's .grad by hand.",
            )
        case Unreadable():
            return (
                f"{t.name} received a gradient, but its values cannot be read here (a meta tensor, or inside "
                "a functorch transform): gradviz cannot say whether it is finite and non-zero.",
                "Check it where its values exist.",
            )
        case _:
            return unreachable(evidence)


def _plain(cause: Cause, t: Target, cap: Capture) -> tuple[str, str]:
    """Causes whose words need nothing beyond the target's own record."""
    n = t.name
    if cause is Cause.ok:
        return _ok(t)
    if cause is Cause.frozen:
        stale = ""
        if t.grad_norm is not None:
            stale = f" Its .grad still holds an old gradient{norm(t.grad_norm)} from before it was frozen."
        module = _all_frozen(t, cap) if t.kind == "parameter" else ""
        # one call on a top-level module when all of it is frozen; else words every frozen tensor shares, so
        # that a report says it once for all of them
        how = f"`model.{module}.requires_grad_(True)`" if module else "call `.requires_grad_(True)` on it"
        return (
            f"{n} has requires_grad=False, so autograd never computes a gradient for it.{stale}",
            "Nothing to fix if it is frozen on purpose (a pretrained backbone, a target network). If it "
            f"should learn: {how}, and make sure the optimizer holds it.",
        )
    if cause is Cause.unused:
        return _unused(t, cap)
    if cause is Cause.unregistered:
        return _unregistered(t)
    if cause is Cause.not_in_optimizer:
        return (
            f"{n} gets a gradient{norm(t.grad_norm)}, but no optimizer param group holds it, so it never "
            "changes.",
            "Build the optimizer from model.parameters(), or add a param group with it.",
        )
    raise ValueError(f"the cause {cause.value!r} needs evidence beyond the target's record")


def _all_frozen(t: Target, cap: Capture) -> str:
    """The top-level module around ``t`` if all of its tensors are frozen (unfrozen in one call), else ""."""
    top = t.name.partition(".")[0] + "."
    if "." in t.name and all(not x.requires_grad for x in cap.targets if x.name.startswith(top)):
        return top[:-1]
    return ""


def _no_grad_field(t: Target, why: str) -> tuple[str, str]:
    n = t.name
    if why == "watch":
        return (
            f"{n} is in the backward graph of the model's output; its gradient norms over the steps are in "
            "the timeline.",
            "Nothing to fix unless the timeline shows a problem.",
        )
    if why == "no_backward":
        return (
            f"{n} reaches the output, but no backward() ran inside the trace.",
            "Call loss.backward() inside the `with gradviz.trace(...)` block to check gradients.",
        )
    return (
        f"{n} is not a leaf: a gradient flows through it, but its .grad is not kept (call "
        f"{n}.retain_grad() before backward to keep it); its node's norm was not recorded.",
        "Nothing to fix.",
    )


def _ok(t: Target) -> tuple[str, str]:
    n = t.name
    if t.returned:
        return (
            f"{n} got a finite, non-zero gradient{norm(t.delivered_norm)}, returned by autograd.grad / "
            "torch.func.grad instead of stored in .grad.",
            "Nothing to fix if you use the returned gradients.",
        )
    if not t.is_leaf and not t.grad_norm:
        return (
            f"{n} is not a leaf: a finite, non-zero gradient{norm(t.delivered_norm)} flows through it; "
            f"its .grad is not kept (call {n}.retain_grad() before backward to keep it).",
            "Nothing to fix.",
        )
    message = f"{n} received a finite, non-zero gradient{norm(t.delivered_norm)}."
    if t.created is not None:
        message += (
            f" It was created during the traced forward (first used{at(t.created)}), so an optimizer "
            "built before this step does not hold it."
        )
        return (
            message,
            "Build the optimizer after the first forward (lazy parameters), or create it in __init__.",
        )
    return message, "Nothing to fix."


def _unused(t: Target, cap: Capture) -> tuple[str, str]:
    n = t.name
    used = cap.ops[t.first_use] if t.first_use >= 0 and t.first_use < len(cap.ops) else None
    if cap.source == "graph":
        return (
            f"{n} is not in the autograd graph of this loss: nothing the loss was computed from depends "
            "on it through autograd (unused, or cut by detach / no_grad; gradviz.diagnose cannot tell "
            "which).",
            "Trace the forward with gradviz.trace(...) to see whether and where its path was cut.",
        )
    if not cap.backward_calls:
        return (
            f"{n} did not take part in computing the model's output.",
            "Check the forward: is the branch or submodule that uses it ever called?",
        )
    if used is not None:
        site = used.caller or used.site
        left = next((c for c in cap.cuts if c.kind is Cause.escaped and c.lost & t.bit), None)
        if left is not None:  # see NOTE [escaped means it came back] in capture/_tracer.py
            return (
                f"{n} was used{at(site)}, but nothing computed from it reached the loss: its value left "
                f"torch through .{left.op}(){at(left.site)}{code(left.site)} and gradviz saw nothing of it "
                "come back (for logging, that is fine).",
                "If that value is meant to feed the loss (through Python arithmetic gradviz cannot follow), "
                "keep the computation in torch tensors instead; if it is only logged, this parameter is "
                "simply not used by the loss.",
            )
        return (
            f"{n} was used{at(site)}, but nothing computed from it reached the loss.",
            "Make sure that result feeds the loss (or drop the parameter if it is not needed).",
        )
    bypass = _bypassed(t, cap)
    if bypass is not None:
        module, weight, site = bypass
        return (
            f"{n} was never used: the forward of {module} never ran, but {weight} of the same module was "
            f"read directly{at(site)}{code(site)}, which skips {n} (an adapter or a hook on {module} runs "
            "only when the module is called).",
            f"Call the module (`self.{module.rpartition('.')[2]}(x)`) instead of reading its weight, so the "
            "adapter runs; or merge the adapter into the weight before that fast path (PEFT: "
            "`model.merge_adapter()`).",
        )
    return (
        f"{n} was never used in the forward pass that produced the loss.",
        "Call the submodule / take the branch that uses it, or remove it (DDP also rejects unused "
        "parameters unless find_unused_parameters=True).",
    )


def _bypassed(t: Target, cap: Capture) -> tuple[str, str, Site | None] | None:
    """(module, weight, line) when an unused ``t`` belongs to a module whose other weight was read directly,
    outside that module's forward (a fast path that reads ``self.q_proj.weight`` and skips its adapter)."""
    parts = t.name.split(".")[:-1]
    for i in range(len(parts) - 1, max(len(parts) - 3, 0), -1):  # the module around t's own, and the next
        module = ".".join(parts[:i])
        for s in cap.targets:
            if s is t or not s.name.startswith(module + ".") or not 0 <= s.first_use < len(cap.ops):
                continue
            op = cap.ops[s.first_use]
            if op.module != module and not op.module.startswith(module + "."):
                return module, s.name, cap.ops.user_site(s.first_use)
    return None


def _created(t: Target, where: Site | None) -> tuple[str, str]:
    n = t.name
    if t.replaced:
        return (
            f"{n} is a new nn.Parameter created during the forward (first used{at(where)}{code(where)}): it "
            "replaces the previous one on every call, so no optimizer can hold it and whatever it learns is "
            "thrown away at the next forward.",
            "Create the parameter once, in __init__, and only use it in forward().",
        )
    return (
        f"{n} was created during the traced forward (first used{at(where)}{code(where)}), after the "
        "optimizer was built: the optimizer does not hold it, so it never changes.",
        "Build the optimizer after the first forward (lazy modules), or create the parameter in __init__.",
    )


def _unregistered(t: Target) -> tuple[str, str]:
    n = t.name
    got = f"It gets a gradient{norm(t.grad_norm)}, but it is" if t.grad_norm is not None else "It is"
    if t.unregistered_how == "copy":
        return (
            f"{n} is a copy of a Parameter (made with .to() / arithmetic), not a leaf: the optimizer "
            "never sees it and its .grad stays None; the real leaf is hidden behind it.",
            "Keep the nn.Parameter itself as the attribute and move the module with model.to(device).",
        )
    if t.unregistered_how in ("list", "dict"):
        container = "list" if t.unregistered_how == "list" else "dict"
        if t.module_held:
            box = "nn.ModuleList" if container == "list" else "nn.ModuleDict"
            what = "modules"
        else:
            box = "nn.ParameterList" if container == "list" else "nn.ParameterDict"
            what = "parameters"
        holder = "a module kept" if t.module_held else "a tensor kept"
        return (
            f"{n} belongs to {holder} in a plain Python {container}. {got} not a registered parameter, "
            "so model.parameters() and the optimizer never see it.",
            f"Store those {what} in an {box}.",
        )
    return (
        f"{n} is a plain tensor attribute with requires_grad=True. {got} not an nn.Parameter, so "
        "model.parameters() and the optimizer never see it.",
        f"Wrap it: `self.{n.rpartition('.')[2]} = nn.Parameter(...)`.",
    )
