"""The message builder (``explain``): words for every kind of evidence the rules hand it, every way a cut
cuts, every reason a gradient is zero, and the sentence on a .grad left from before the trace.

The tables below are checked against the unions and enums they cover, so a new evidence type, CutHow
member or zero mechanism without its words fails here, never in front of a user.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, cast, get_args, get_type_hints

import pytest

from gradviz.records import Capture, Carried, Cause, CutHow, ErrorKind, GradState, Target
from gradviz.verdicts._error_messages import error_fix
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
    Role,
    StepRead,
    StraightThrough,
    Undecided,
    Unreadable,
    Untrained,
    ZeroKind,
    ZeroWhy,
)
from gradviz.verdicts._messages import explain

W = "enc.weight"
BIT = 1


def assert_plain_sentences(message: str, fix: str, name: str = W) -> None:
    """One or more plain sentences that name the target, and a fix; no enum reprs, no holes, no stutter."""
    assert name in message, message
    assert message.endswith("."), message
    assert fix.strip() and fix.endswith("."), fix
    for text in (message, fix):
        prose = re.sub(r"`[^`]*`", "`code`", text)  # the user's code and snippets may hold anything
        assert not re.search(r"\b(Cause|CutHow|ErrorKind|GradState)\.", prose), text
        assert "  " not in prose and " ," not in prose, text
        assert not re.search(r"(?<!\.)\.\.(?!\.)|\s\.(\s|$)", prose), text  # a doubled or stray full stop
        assert "{" not in prose and "}" not in prose, text  # no unformatted placeholder
        assert not re.search(r"\b(\w+ \w+) \1\b", prose, re.IGNORECASE), text  # no stutter ("it is it is")


@dataclass
class Case:
    cause: Cause
    target: Target
    evidence: Any
    cap: Capture
    words: tuple[str, ...]  # in the message
    fix: str  # in the fix


def _nothing(make) -> Case:
    return Case(
        Cause.unused,
        make.target(),
        Nothing(),
        make.capture(backward_calls=1),
        ("enc.weight was never used in the forward pass that produced the loss.",),
        "Call the submodule",
    )


def _created(make) -> Case:
    where = make.site(5, "y = self.lazy(x)")
    return Case(
        Cause.not_in_optimizer,
        make.target(created=where, in_optimizer=False),
        Created(where),
        make.capture(),
        ("enc.weight was created during the traced forward (first used at model.py:5 (`y = self.lazy(x)`))",),
        "Build the optimizer after the first forward",
    )


def _cleared(make) -> Case:
    return Case(
        Cause.cleared,
        make.got(norm=2.0, grad_state=GradState.none, grad_norm=None),
        Cleared(make.site(20, "opt.zero_grad()")),
        make.capture(),
        ("enc.weight received a gradient (norm 2), then the call at model.py:20 (`opt.zero_grad()`)",),
        "before zero_grad()",
    )


def _step_read(make) -> Case:
    return Case(
        Cause.ok,
        make.got(norm=2.0, grad_state=GradState.none, grad_norm=None),
        StepRead(make.site(20, "opt.zero_grad()")),
        make.capture(),
        (
            "enc.weight received a gradient (norm 2), which the optimizer step used; then the call at "
            "model.py:20",
        ),
        "before zero_grad()",
    )


def _consumed(make) -> Case:
    return Case(
        Cause.ok,
        make.got(norm=2.0, grad_state=GradState.none, grad_norm=None, consumed=True),
        Consumed(),
        make.capture(),
        ("enc.weight received a finite, non-zero gradient (norm 2), which a hook took during backward",),
        "Nothing to fix.",
    )


def _not_requested(make) -> Case:
    return Case(
        Cause.not_requested,
        make.target(),
        NotRequested(make.site(30, "loss.backward(inputs=g_params)")),
        make.capture(),
        ("enc.weight was not asked for: the backward at model.py:30 (`loss.backward(inputs=g_params)`)",),
        "add it to inputs=",
    )


def _undecided(make) -> Case:
    return Case(
        Cause.unknown,
        make.got(norm=2.0),
        Undecided("gradviz's forward tracer failed (KeyError: 3)"),
        make.capture(),
        (
            "gradviz could not decide why for enc.weight: gradviz's forward tracer failed (KeyError: 3), so "
            "it stopped recording. What is known: when the trace ended, its .grad held a finite, non-zero "
            "gradient (norm 2).",
        ),
        "check this parameter's .grad by hand",
    )


def _hidden(make) -> Case:
    return Case(
        Cause.non_differentiable,
        make.target(opaque="enc", opaque_how="torch.compile"),
        Hidden("torch.compile", "enc", make.site(22, "out = model(x)")),
        make.capture(),
        (
            "enc.weight gets no gradient: it belongs to torch.compile'd code (enc), whose ops gradviz cannot "
            "see, and the gradient coming back through its output at model.py:22 (`out = model(x)`)",
        ),
        "before torch.compile",
    )


def _cut_path(make) -> Case:
    return Case(
        Cause.detach,
        make.target(),
        CutPath(make.cut(Cause.detach, BIT, 12, "h = h.detach()")),
        make.capture(),
        ("enc.weight gets no gradient: its only path to the loss goes through .detach() at model.py:12",),
        "remove the .detach()",
    )


def _raised(make) -> Case:
    return Case(
        Cause.error,
        make.target(failed=True),
        Raised(make.error(ErrorKind.non_scalar, "grad can be implicitly created only for scalar outputs")),
        make.capture(),
        (
            "enc.weight got no gradient because the backward raised: backward() at model.py:30 was called on "
            "a non-scalar tensor",
        ),
        "Reduce the loss to a scalar",
    )


def _born(make) -> Case:
    sqrt = make.birth("nan", "backward", "sqrt", 11, "d = (a - b).norm()", detail="divides by sqrt(0)")
    return Case(
        Cause.nonfinite,
        make.got(delivered=GradState.nonfinite, grad_state=GradState.nonfinite, norm=math.nan),
        Born(sqrt),
        make.capture(),
        (
            "enc.weight received a NaN gradient: it was born in the backward of sqrt at model.py:11 "
            "(`d = (a - b).norm()`) — divides by sqrt(0).",
        ),
        "Add an epsilon inside",
    )


def _added_up(make) -> Case:
    return Case(
        Cause.nonfinite,
        make.got(grad_state=GradState.nonfinite, grad_norm=math.nan, grad_before=math.nan),
        AddedUp(math.nan, 1),
        make.capture(),
        (
            "enc.weight's .grad is NaN, but the gradient this step's backward delivered is finite: the NaN "
            "was already in .grad when the trace began",
        ),
        "optimizer.zero_grad()",
    )


def test_zeros_written_where_gradviz_cannot_see_never_read_as_removed_by_zero_grad(make) -> None:
    t = make.got(grad_state=GradState.zero, grad_norm=0.0)
    message, fix = explain(Cause.cleared, t, Cleared(None, "unseen"), make.capture())
    assert "all zeros now" in message and "does not see into" in message
    assert "zero_grad" not in message and "between backward() and the optimizer step" in fix


def test_added_up_by_several_backwards_says_they_overflowed(make) -> None:
    t = make.got(grad_state=GradState.nonfinite, grad_norm=math.inf, grad_before=None)
    message, fix = explain(Cause.nonfinite, t, AddedUp(None, 3), make.capture())
    assert "each of the 3 backward passes delivered a finite gradient" in message
    assert "overflowed" in message and "float32" in fix
    assert "from before the trace" not in message  # nothing was there before


def _loss_nonfinite(make) -> Case:
    return Case(
        Cause.nonfinite,
        make.got(norm=1.5),
        LossNonfinite("nan", None),
        make.capture(),
        ("The loss is NaN, and enc.weight takes part in computing it: its gradient (norm 1.5) is finite",),
        "guard it",
    )


def _no_grad_field(make) -> Case:
    return Case(
        Cause.ok,
        make.target(reached=True),
        NoGradField("no_backward"),
        make.capture(),
        ("enc.weight reaches the output, but no backward() ran inside the trace.",),
        "loss.backward()",
    )


def _unreadable(make) -> Case:
    return Case(
        Cause.ok,
        make.got(delivered=GradState.unknown, grad_state=GradState.unknown, norm=None),
        Unreadable(),
        make.capture(),
        ("enc.weight received a gradient, but its values cannot be read here",),
        "where its values exist",
    )


def _zero_why(make) -> Case:
    return Case(
        Cause.zero,
        make.got(delivered=GradState.zero, grad_state=GradState.zero, norm=0.0),
        ZeroWhy("step", make.site(14, "q = h.round()"), "round"),
        make.capture(),
        ("round at model.py:14 (`q = h.round()`) is a step function",),
        "straight-through estimator",
    )


def _untrained(make) -> Case:
    role = Role("target", "smooth_l1_loss", make.site(20, "loss = F.smooth_l1_loss(q, y)"), "enc", "q")
    return Case(
        Cause.not_in_optimizer,
        make.got(in_optimizer=False),
        Untrained(role),
        make.capture(),
        ("only in smooth_l1_loss at model.py:20", "`enc` is a target"),
        "`model.enc.requires_grad_(False)`",
    )


def _kept_fixed(make) -> Case:
    role = Role("target", "kl_div", make.site(21, "loss = F.kl_div(s, t)"), "enc", "student")
    return Case(
        Cause.no_grad,
        make.target(),
        KeptFixed(make.cut(Cause.no_grad, BIT, 12, "t = enc(x)", op="linear"), role),
        make.capture(),
        ("enc.weight gets no gradient, by design:", "the value that student is trained to match, in kl_div"),
        "Nothing to fix",
    )


def _straight_through(make) -> Case:
    cut = make.cut(Cause.detach, BIT, 12, "zq = z + (q - z).detach()")
    return Case(
        Cause.detach,
        make.target(),
        StraightThrough(cut, make.site(12, "zq = z + (q - z).detach()")),
        make.capture(),
        ("detached branch of the straight-through estimator at model.py:12", "sends the gradient to z"),
        "`F.mse_loss(q, z.detach())`",
    )


EVIDENCE_CASES = {
    Untrained: _untrained,
    KeptFixed: _kept_fixed,
    StraightThrough: _straight_through,
    Nothing: _nothing,
    Created: _created,
    Cleared: _cleared,
    Consumed: _consumed,
    StepRead: _step_read,
    NotRequested: _not_requested,
    CutPath: _cut_path,
    Hidden: _hidden,
    Undecided: _undecided,
    Raised: _raised,
    Born: _born,
    LossNonfinite: _loss_nonfinite,
    NoGradField: _no_grad_field,
    Unreadable: _unreadable,
    ZeroWhy: _zero_why,
    AddedUp: _added_up,
}


def test_every_evidence_type_has_a_case() -> None:
    assert set(EVIDENCE_CASES) == set(get_args(Evidence))


@pytest.mark.parametrize("kind", get_args(Evidence), ids=lambda kind: kind.__name__)
def test_every_evidence_type_has_words(make, kind) -> None:
    case = EVIDENCE_CASES[kind](make)  # a KeyError here: a new evidence type without a case above
    assert isinstance(case.evidence, kind)
    message, fix = explain(case.cause, case.target, case.evidence, case.cap)
    assert_plain_sentences(message, fix)
    for words in case.words:
        assert words in message
    assert case.fix in fix


def test_evidence_outside_the_union_reaches_unreachable(make) -> None:
    stranger = cast(Evidence, object())
    with pytest.raises(AssertionError, match="gradviz has no words for <object object at"):
        explain(Cause.ok, make.target(), stranger, make.capture())


@pytest.mark.parametrize("cause", [Cause.detach, Cause.zero, Cause.nonfinite, Cause.cleared, Cause.error])
def test_a_cause_that_needs_evidence_refuses_nothing(make, cause) -> None:
    with pytest.raises(ValueError, match=f"the cause '{cause.value}' needs evidence"):
        explain(cause, make.target(), Nothing(), make.capture())


# -- Nothing: the causes whose words come from the target's own record ------------------------------------


@pytest.mark.parametrize(
    ("cause", "fields", "words", "fix"),
    [
        (
            Cause.ok,
            {"delivered_norm": 1.5},
            "enc.weight received a finite, non-zero gradient (norm 1.5).",
            "Nothing",
        ),
        (
            Cause.frozen,
            {"requires_grad": False},
            "enc.weight has requires_grad=False",
            "requires_grad_(True)",
        ),
        (Cause.unused, {}, "enc.weight was never used in the forward pass", "DDP also rejects unused"),
        (
            Cause.unregistered,
            {"kind": "unregistered", "grad_norm": 0.5},
            "plain tensor attribute",
            "nn.Parameter",
        ),
        (Cause.not_in_optimizer, {"grad_norm": 0.5}, "no optimizer param group holds it", "param group"),
    ],
    ids=["ok", "frozen", "unused", "unregistered", "not_in_optimizer"],
)
def test_nothing_words_come_from_the_target(make, cause, fields, words, fix) -> None:
    message, fixed = explain(cause, make.target(**fields), Nothing(), make.capture(backward_calls=1))
    assert_plain_sentences(message, fixed)
    assert words in message and fix in fixed


@pytest.mark.parametrize(
    ("how", "held", "words", "fix"),
    [
        (
            "attribute",
            True,
            "model.scale is a plain tensor attribute with requires_grad=True.",
            "self.scale =",
        ),
        ("list", True, "belongs to a module kept in a plain Python list.", "nn.ModuleList"),
        ("dict", True, "belongs to a module kept in a plain Python dict.", "nn.ModuleDict"),
        ("list", False, "belongs to a tensor kept in a plain Python list.", "nn.ParameterList"),
        ("dict", False, "belongs to a tensor kept in a plain Python dict.", "nn.ParameterDict"),
        (
            "copy",
            True,
            "is a copy of a Parameter (made with .to() / arithmetic), not a leaf",
            "model.to(device)",
        ),
    ],
    ids=["attribute", "module-list", "module-dict", "tensor-list", "tensor-dict", "copy"],
)
def test_unregistered_says_how_it_is_held(make, how, held, words, fix) -> None:
    t = make.target("model.scale", kind="unregistered", unregistered_how=how, module_held=held, grad_norm=0.5)
    message, fixed = explain(Cause.unregistered, t, Nothing(), make.capture())
    assert_plain_sentences(message, fixed, "model.scale")
    assert words in message and fix in fixed
    if how != "copy":
        assert "It gets a gradient (norm 0.5), but it is not" in message


@pytest.mark.parametrize("how", ["attribute", "list"])
def test_unregistered_without_a_gradient_reads_plainly(make, how) -> None:
    t = make.target("model.scale", kind="unregistered", unregistered_how=how)
    message, fix = explain(Cause.unregistered, t, Nothing(), make.capture())
    assert_plain_sentences(message, fix, "model.scale")
    assert re.search(r"\. It is not (an nn\.Parameter|a registered parameter)", message), message


# -- NoGradField ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("why", get_args(get_type_hints(NoGradField)["why"]))
def test_no_grad_field_words_per_case(make, why) -> None:
    words = {
        "no_backward": "enc.weight reaches the output, but no backward() ran inside the trace.",
        "not_leaf": "enc.weight is not a leaf: a gradient flows through it, but its .grad is not kept",
        "watch": "its gradient norms over the steps are in the timeline",
    }
    message, fix = explain(Cause.ok, make.target(reached=True), NoGradField(why), make.capture())
    assert_plain_sentences(message, fix)
    assert words[why] in message


# -- ZeroWhy ----------------------------------------------------------------------------------------------

HEAD = "enc.weight received a gradient that is exactly zero everywhere: "
ZERO_WORDS: dict[str, tuple[dict[str, Any], str, str]] = {
    "cancel": (
        {"paths": 3},
        "it reaches the loss by 3 paths whose gradients add up to exactly zero",
        "f(x) - f(x)",
    ),
    "summed": (
        {"paths": 2},
        "the 2 backward passes accumulated into its .grad gave non-zero gradients that add up to exactly",
        "Step (or zero .grad) between the backwards",
    ),
    "zero_weight": (
        {"weight": "proj.weight"},
        "proj.weight is all zeros, and the op at model.py:14 (`y = op(h)`) multiplies the gradient flowing "
        "back to enc.weight by it; proj.weight gets no usable gradient either (both factors are zero)",
        "Initialise one of the two factors",
    ),
    "dead_relu": (
        {"units": 16},
        "the op at model.py:14 (`y = op(h)`) outputs 0 for every input of the batch: all 16 of its units are "
        "dead",
        "LeakyReLU",
    ),
    "step": ({}, "op at model.py:14 (`y = op(h)`) is a step function", "straight-through"),
    "where": (
        {},
        "op at model.py:14 (`y = op(h)`) selects the other value at every position",
        "the condition",
    ),
    "mul": ({}, "the multiplication at model.py:14 (`y = op(h)`) scales it by a factor that is zero", "mask"),
    "discarded": (
        {},
        "op at model.py:14 (`y = op(h)`) passes back no gradient — the values computed from enc.weight are "
        "discarded",
        "the loss does not depend on the part of its input that comes from enc.weight",
    ),
    "unknown": ({}, "the per-node gradient norms that would locate it were not recorded", "node_norms=True"),
}


def test_every_zero_mechanism_has_words() -> None:
    assert set(ZERO_WORDS) == set(get_args(ZeroKind))


@pytest.mark.parametrize("kind", get_args(ZeroKind))
def test_zero_words_per_mechanism(make, kind) -> None:
    fields, words, fix = ZERO_WORDS[kind]
    t = make.got(delivered=GradState.zero, grad_state=GradState.zero, norm=0.0)
    why = ZeroWhy(kind, make.site(14, "y = op(h)"), "op", **fields)
    message, fixed = explain(Cause.zero, t, why, make.capture())
    assert_plain_sentences(message, fixed)
    assert message.startswith(HEAD) and words in message and fix in fixed


def test_zero_weight_by_design_says_it_learns_from_the_next_step(make) -> None:
    t = make.got("lora_A.weight", delivered=GradState.zero, grad_state=GradState.zero, norm=0.0)
    why = ZeroWhy("zero_weight", make.site(14), "linear", weight="lora_B.weight", by_design=True)
    message, fix = explain(Cause.zero, t, why, make.capture())
    assert_plain_sentences(message, fix, "lora_A.weight")
    assert "lora_B.weight gets a gradient of its own, so this step moves it" in message
    assert "lora_A.weight gets gradients from the next step on" in message
    assert fix.startswith("Nothing to fix at the first step") and "lora_B.weight is in the optimizer" in fix


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        (
            {"requires_grad": False},
            "lora_B.weight is frozen, so it stays zero and lora_A.weight never learns",
        ),
        ({"in_optimizer": False}, "no optimizer holds lora_B.weight, so it stays zero"),
        ({"delivered": GradState.zero}, "both factors are zero"),
    ],
)
def test_a_zero_weight_that_cannot_move_says_why(make, fields, words) -> None:
    t = make.got("lora_A.weight", delivered=GradState.zero, grad_state=GradState.zero, norm=0.0)
    w = make.got("lora_B.weight", 1, **fields)
    why = ZeroWhy("zero_weight", make.site(14), "linear", weight="lora_B.weight")
    message, fix = explain(Cause.zero, t, why, make.capture(t, w))
    assert_plain_sentences(message, fix, "lora_A.weight")
    assert words in message and "Nothing to fix" not in fix
    assert fix.startswith("Initialise one of the two factors with non-zero values")


# -- CutPath: every way a cut cuts -------------------------------------------------------------------------

CUT_WORDS: dict[CutHow, tuple[dict[str, Any], str, str]] = {
    CutHow.op: (
        {"kind": Cause.detach, "op": "detach", "code": "h = h.detach()"},
        "its only path to the loss goes through .detach() at model.py:12 (`h = h.detach()`), which cuts the "
        "gradient.",
        "remove the .detach()",
    ),
    CutHow.rebuilt: (
        {"kind": Cause.escaped, "op": "tensor", "code": "t = torch.tensor([a, b])"},
        "its values were copied into a new tensor by torch.tensor() at model.py:12 (`t = torch.tensor([a, "
        "b])`), "
        "which has no history.",
        "torch.stack / torch.cat",
    ),
    CutHow.after_detach: (
        {"kind": Cause.escaped, "op": "numpy", "code": "a = h.detach().numpy()"},
        "its value left torch through .numpy() at model.py:12 (`a = h.detach().numpy()`) and came back as a "
        "new "
        "tensor with no history.",
        "use .item()/.numpy() only for logging",
    ),
    CutHow.reentrant: (
        {"kind": Cause.checkpoint, "op": "linear", "code": "h = checkpoint(self.enc, x)"},
        "it runs inside a reentrant torch.utils.checkpoint at model.py:12 (`h = checkpoint(self.enc, x)`) "
        "whose "
        "inputs do not require grad",
        "use_reentrant=False",
    ),
    CutHow.in_function: (
        {"kind": Cause.no_grad, "op": "linear", "code": "y = self.enc(x)"},
        "ran with gradient tracking off at model.py:12 (`y = self.enc(x)`) (inside a custom "
        "autograd.Function's "
        "forward, without being passed to apply()).",
        "torch.no_grad()",
    ),
    CutHow.inference_mode: (
        {"kind": Cause.no_grad, "op": "linear", "code": "y = self.enc(x)"},
        "ran with gradient tracking off at model.py:12 (`y = self.enc(x)`) (inside torch.inference_mode()).",
        "inference_mode() block",
    ),
    CutHow.grad_switch: (
        {"kind": Cause.no_grad, "op": "linear", "code": "with torch.no_grad():", "op_line": 13},
        "its only path to the loss ran with gradient tracking off: `with torch.no_grad():` at model.py:12 "
        "turned "
        "it off around `h = self.enc(x)` at model.py:13.",
        "move that computation out of the torch.no_grad()",
    ),
    CutHow.grad_without_graph: (
        {"kind": Cause.no_grad, "op": "autograd.grad", "code": "(g,) = torch.autograd.grad(out.sum(), x)"},
        "its only path to the loss goes through the gradient torch.autograd.grad returned at model.py:12 "
        "(`(g,) = torch.autograd.grad(out.sum(), x)`): without create_graph=True that gradient carries no "
        "graph.",
        "Pass create_graph=True",
    ),
    CutHow.hidden: (
        {"kind": Cause.non_differentiable, "op": "Block", "code": "h = self.block(x)"},
        "its only path to the loss goes through Block at model.py:12 (`h = self.block(x)`), which runs as "
        "TorchScript and returns its result without a gradient",
        "Look inside that module's forward",
    ),
    CutHow.returns_none: (
        {"kind": Cause.non_differentiable, "op": "Clip", "code": "y = Clip.apply(h)"},
        "the backward of the custom autograd.Function Clip (applied at model.py:12 (`y = Clip.apply(h)`)) "
        "returns None for the input that depends on it, so nothing arrives.",
        "Return a gradient for that input from Clip.backward",
    ),
    CutHow.no_gradient_out: (
        {"kind": Cause.non_differentiable, "op": "index_put", "code": "y = x.index_put(i, h)"},
        "the backward of index_put at model.py:12 (`y = x.index_put(i, h)`) passes none to the input that "
        "depends "
        "on it.",
        "differentiable in that input",
    ),
}


def _cut_of(make, how: CutHow, kind: Cause, op: str, code: str, op_line: int | None = None):
    cut = make.cut(kind, BIT, 12, code, op=op, how=how)
    if op_line is not None:
        cut.op_site = make.site(op_line, "h = self.enc(x)")
    return cut


def test_every_cut_how_has_words() -> None:
    assert set(CUT_WORDS) == set(CutHow)


@pytest.mark.parametrize("how", list(CutHow), ids=str)
def test_cut_words_per_how(make, how) -> None:
    fields, words, fix = CUT_WORDS[how]
    cut = _cut_of(make, how, **fields)
    message, fixed = explain(cut.kind, make.target(), CutPath(cut), make.capture())
    assert_plain_sentences(message, fixed)
    assert message.startswith("enc.weight gets no gradient: ")
    assert words in message and fix in fixed


def test_each_cut_how_says_something_of_its_own(make) -> None:
    messages = set()
    for how, (fields, _, _) in CUT_WORDS.items():
        cut = _cut_of(make, how, **fields)
        messages.add(explain(cut.kind, make.target(), CutPath(cut), make.capture())[0])
    assert len(messages) == len(CutHow)


def test_a_grad_switch_in_library_code_says_so(make) -> None:
    cut = make.cut(Cause.no_grad, BIT, 12, "out = pipe(x)", op="linear", how=CutHow.grad_switch)
    cut.op_site = make.site(88, "x = self.proj(x)", library=True)
    message, _ = explain(Cause.no_grad, make.target(), CutPath(cut), make.capture())
    assert (
        "`out = pipe(x)` at model.py:12 turned it off around `x = self.proj(x)` at "
        "/venv/site-packages/lib/layers.py:88 (library code)." in message
    )


def test_a_grad_switch_without_code_names_no_grad(make) -> None:
    cut = make.cut(Cause.no_grad, BIT, 12, op="linear", how=CutHow.grad_switch)
    message, _ = explain(Cause.no_grad, make.target(), CutPath(cut), make.capture())
    assert message == (
        "enc.weight gets no gradient: its only path to the loss ran with gradient tracking off: "
        "`torch.no_grad()` at model.py:12 turned it off."
    )


@pytest.mark.parametrize(("library", "where"), [(False, "the op"), (True, "in library code")])
def test_a_cut_whose_op_is_on_another_line_names_both(make, library, where) -> None:
    cut = make.cut(Cause.detach, BIT, 12, "z = encode(x)")
    cut.op_site = make.site(40, "return h.detach()", library=library)
    message, _ = explain(Cause.detach, make.target(), CutPath(cut), make.capture())
    assert f"; {where}: detach at {cut.op_site.where} (`return h.detach()`)." in message


def test_a_cut_at_an_unknown_line_still_reads(make) -> None:
    cut = make.cut(Cause.non_differentiable, BIT, None, op="argmax")
    message, fix = explain(Cause.non_differentiable, make.target(), CutPath(cut), make.capture())
    assert_plain_sentences(message, fix)
    assert message == (
        "enc.weight gets no gradient: its only path to the loss goes through argmax, which has no gradient."
    )


# -- Born / LossNonfinite: where a NaN or Inf was born, and the fix that fits the op ----------------------


def _nan_target(make):
    return make.got(delivered=GradState.nonfinite, grad_state=GradState.nonfinite, norm=math.nan)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        (
            {"phase": "forward", "op_name": "log", "detail": ""},
            "received a NaN gradient: the forward of log at model.py:9 (`y = f(h)`) produced NaN.",
        ),
        (
            {
                "phase": "forward",
                "op_name": "exp",
                "detail": "by overflow: values grew beyond the dtype's range",
            },
            "the forward of exp at model.py:9 (`y = f(h)`) produced NaN by overflow: values grew beyond",
        ),
        (
            {"phase": "forward", "op_name": "log", "detail": "", "masked_by": 1},
            "produced NaN; torch.where at model.py:10 hid it from the output, but its backward still "
            "multiplies by "
            "it (0 × NaN = NaN).",
        ),
        (
            {"phase": "backward", "op_name": "sqrt", "detail": ""},
            "it was born in the backward of sqrt at model.py:9 (`y = f(h)`), which turned a finite gradient "
            "into "
            "NaN.",
        ),
        (
            {"phase": "backward", "op_name": "sqrt", "detail": "", "masked_by": 1},
            "; the torch.where at model.py:10 above it sends that branch a zero gradient.",
        ),
        (
            {"phase": "input", "op_name": "linear", "detail": ""},
            "NaN came in from outside the traced code: the input of linear at model.py:9 (`y = f(h)`) "
            "already held "
            "it",
        ),
        (
            {
                "phase": "input",
                "op_name": "linear",
                "detail": "the parameter enc.weight already held NaN/Inf",
            },
            "the parameter enc.weight already held NaN/Inf; linear at model.py:9 (`y = f(h)`) read it.",
        ),
    ],
    ids=[
        "forward",
        "forward-detail",
        "forward-masked",
        "backward",
        "backward-masked",
        "input",
        "input-parameter",
    ],
)
def test_born_says_where_and_how(make, fields, words) -> None:
    ops = [make.op(0, "log", 9), make.op(1, "where", 10, "y = torch.where(m, y, 0)")]
    birth = make.birth("nan", line=9, code="y = f(h)", **fields)
    message, fix = explain(Cause.nonfinite, _nan_target(make), Born(birth), make.capture(ops=ops))
    assert_plain_sentences(message, fix)
    assert words in message


def test_born_in_library_code_names_the_library_line(make) -> None:
    birth = make.birth(
        "nan", "forward", "div", 9, "y = attn(q, k)", op_site=make.site(77, "s = a / b", library=True)
    )
    message, _ = explain(Cause.nonfinite, _nan_target(make), Born(birth), make.capture())
    assert (
        "received a NaN gradient: the forward of div at model.py:9 (`y = attn(q, k)`) "
        "(in /venv/site-packages/lib/layers.py:77 (`s = a / b`)) produced NaN." in message
    )


@pytest.mark.parametrize(
    ("op_name", "fields", "fix"),
    [
        ("sqrt", {}, "Clamp the input to non-negative values before the root"),
        ("sqrt", {"phase": "backward"}, "Add an epsilon inside"),
        ("cdist", {}, "Add an epsilon inside"),
        ("log", {}, "Clamp the input away from zero and negatives"),
        ("div", {}, "Guard the denominator"),
        ("softmax", {}, "Keep at least one unmasked key per row"),
        ("pow", {}, "Add an epsilon to the base before a fractional power"),
        ("acos", {}, "Clamp the input inside the domain"),
        ("mm", {}, "Values overflow: lower the learning rate"),
        ("log", {"detail": "by overflow: values grew"}, "Values overflow"),
        ("log", {"masked_by": 0}, "Use the double-where pattern"),
        ("log", {"phase": "input"}, "Check the data for NaN/Inf"),
    ],
    ids=[
        "sqrt",
        "sqrt-at-0",
        "cdist",
        "log",
        "div",
        "softmax",
        "pow",
        "acos",
        "other",
        "overflow",
        "masked",
        "input",
    ],
)
def test_the_fix_fits_the_op_where_it_was_born(make, op_name, fields, fix) -> None:
    fields = {"phase": "forward", **fields}
    birth = make.birth("nan", op_name=op_name, line=9, **fields)
    _, fixed = explain(
        Cause.nonfinite, _nan_target(make), Born(birth), make.capture(ops=[make.op(0, "where", 9)])
    )
    assert fixed.startswith(fix)


@pytest.mark.parametrize(("value", "word"), [("nan", "NaN"), ("inf", "Inf")])
def test_a_nonfinite_loss_says_which_and_where(make, value, word) -> None:
    birth = make.birth(value, "forward", "softmax", 7, "p = scores.softmax(-1)")
    message, fix = explain(Cause.nonfinite, make.got(norm=1.5), LossNonfinite(value, birth), make.capture())
    assert_plain_sentences(message, fix)
    assert message.startswith(f"The loss is {word}, and enc.weight takes part in computing it")
    assert message.endswith(
        f"The forward of softmax at model.py:7 (`p = scores.softmax(-1)`) produced {word}."
    )
    assert fix.startswith("Keep at least one unmasked key per row")


# -- Raised: the error's clause, inside the verdict's sentence ---------------------------------------------


def test_raised_graph_freed_by_carried_state_names_the_carried_tensor(make) -> None:
    carried = Carried(op=0, site=make.site(21, "h = self.cell(x, h)"), shape=(4, 8), made_by="TanhBackward0")
    err = make.error(ErrorKind.graph_freed, blame=carried.site, blame_op="carried")
    message, fix = explain(
        Cause.error, make.target(failed=True), Raised(err), make.capture(carried=[carried])
    )
    assert_plain_sentences(message, fix)
    assert message == (
        "enc.weight got no gradient because the backward raised: backward reached into the graph of an "
        "earlier "
        "step, which is already freed: the tensor used at model.py:21 (`h = self.cell(x, h)`) (4×8, made by "
        "TanhBackward0) carries its autograd history from before this step (state carried across steps "
        "without "
        ".detach())."
    )
    assert fix.startswith("Detach the carried state where it enters the new step")


# -- a .grad that already held a value when the traced backward began --------------------------------------


def test_stale_zero_tensor_from_zero_grad_without_set_to_none(make) -> None:
    message, _ = explain(
        Cause.unused, make.target(grad_before=0.0), Nothing(), make.capture(backward_calls=1)
    )
    assert message.endswith(
        " Its .grad is a zero tensor from before the trace (zero_grad(set_to_none=False)): this backward "
        "added "
        "nothing to it."
    )


def test_stale_zero_tensor_is_the_normal_start_of_a_step_when_a_gradient_came(make) -> None:
    message, _ = explain(Cause.ok, make.got(norm=1.5, grad_before=0.0), Nothing(), make.capture())
    assert message == "enc.weight received a finite, non-zero gradient (norm 1.5)."


def test_stale_gradient_this_backward_added_to(make) -> None:
    message, _ = explain(Cause.ok, make.got(norm=1.5, grad_before=0.5), Nothing(), make.capture())
    assert message == (
        "enc.weight received a finite, non-zero gradient (norm 1.5). Its .grad already held a gradient (norm "
        "0.5) from before the trace, and this one was added to it (no zero_grad() since the last step?)."
    )


def test_stale_gradient_added_to_also_when_the_value_is_wrong(make) -> None:
    t = _nan_target(make)
    t.grad_before = 0.5
    message, _ = explain(Cause.nonfinite, t, Born(None), make.capture())
    assert (
        "Its .grad already held a gradient (norm 0.5) from before the trace, and this one was added"
        in message
    )


def test_stale_gradient_when_nothing_arrived_is_old(make) -> None:
    cut = CutPath(make.cut(Cause.detach, BIT, 12))
    message, _ = explain(Cause.detach, make.target(grad_before=0.5), cut, make.capture())
    assert message.endswith(
        " Its .grad holds a gradient (norm 0.5) left from before the trace: that value is old, this backward "
        "added nothing to it."
    )


@pytest.mark.parametrize("before", [0.0, 0.5])
def test_no_stale_sentence_for_a_frozen_tensor(make, before) -> None:
    t = make.target(requires_grad=False, grad_before=before)
    message, _ = explain(Cause.frozen, t, Nothing(), make.capture())
    assert "from before the trace" not in message


# -- fixes specific to the mechanism ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op_name", "code", "fields", "fix"),
    [
        ("log", "p = torch.log(F.softmax(z, -1))", {}, "`F.log_softmax(logits, dim=-1)`"),
        ("log", "l = torch.log(torch.sigmoid(z))", {}, "`F.logsigmoid(x)`"),
        ("acos", "a = torch.acos(cos)", {}, "`torch.acos(x.clamp(-1 + 1e-6, 1 - 1e-6))`"),
        ("asin", "a = torch.asin(s)", {}, "`torch.asin(x.clamp(-1 + 1e-6, 1 - 1e-6))`"),
        (
            "sqrt",
            "d = torch.where(m, torch.sqrt(h), 0)",
            {"masked_by": 0},
            "torch.sqrt(torch.where(mask, x, 1.0))",
        ),
        (
            "softmax",
            "p = s.softmax(-1).masked_fill(e, 0)",
            {"masked_by": 0},
            "Keep at least one unmasked key",
        ),
        ("div", "h = (h - m) / s", {}, "`(x - x.mean()) / (x.std() + 1e-5)`"),
    ],
    ids=["log-softmax", "log-sigmoid", "acos", "asin", "masked-sqrt", "masked-softmax", "div"],
)
def test_the_fix_has_the_code_for_its_mechanism(make, op_name, code, fields, fix) -> None:
    birth = make.birth("nan", "forward", op_name, 9, code, **fields)
    _, fixed = explain(
        Cause.nonfinite, _nan_target(make), Born(birth), make.capture(ops=[make.op(0, "where", 9)])
    )
    assert fix in fixed, fixed
    if op_name == "softmax":
        assert "double-where" not in fixed


@pytest.mark.parametrize(
    ("op", "fix", "never"),
    [
        ("sign", "`s = x.clamp(-1, 1); y = s + (x.sign() - s).detach()`", "round"),
        ("floor", "`y = x + (torch.floor(x) - x).detach()`", "sign"),
        ("round", "`y = x + (torch.round(x) - x).detach()`", "sign"),
        ("heaviside", "`torch.sigmoid(x / temperature)`", "round"),
    ],
)
def test_a_step_function_gets_its_own_straight_through(make, op, fix, never) -> None:
    t = make.got(delivered=GradState.zero, grad_state=GradState.zero, norm=0.0)
    _, fixed = explain(Cause.zero, t, ZeroWhy("step", make.site(14, "y = f(x)"), op), make.capture())
    assert fix in fixed and never not in fixed, fixed


@pytest.mark.parametrize(
    ("op", "fix"),
    [
        ("argmax", "`F.gumbel_softmax(logits, tau=1.0, hard=True)`"),
        ("__gt__", "`torch.sigmoid((x - threshold) / temperature)`"),
        ("long", "Keep the values float"),
        ("bucketize", "Use a differentiable stand-in for that op"),
    ],
)
def test_an_op_without_gradient_gets_its_own_stand_in(make, op, fix) -> None:
    cut = make.cut(Cause.non_differentiable, BIT, 12, "y = f(x)", op=op)
    _, fixed = explain(Cause.non_differentiable, make.target(), CutPath(cut), make.capture())
    assert fix in fixed, fixed


@pytest.mark.parametrize(
    ("kind", "stay"),
    [
        (Cause.detach, "nothing to fix (the .detach() saves its backward)"),
        (Cause.no_grad, "nothing to fix (no_grad saves its backward)"),
        (Cause.data, "use `.detach()` instead of `.data`"),
        (Cause.escaped, "compute it under `torch.no_grad()`"),
    ],
)
def test_a_cut_that_may_be_deliberate_gets_both_fixes(make, kind, stay) -> None:
    cut = make.cut(kind, BIT, 12, "h = f(x)", op="item" if kind is Cause.escaped else "detach")
    _, fixed = explain(kind, make.target(), CutPath(cut), make.capture())
    learn, _, fixed_part = fixed.partition(" If it is meant to stay fixed: ")
    assert learn.startswith("If it should learn: ") and fixed_part.startswith(stay), fixed


def test_cancelling_paths_of_a_resampled_value_get_the_reinforce_fix(make) -> None:
    t = make.got(delivered=GradState.zero, grad_state=GradState.zero, norm=0.0)
    why = ZeroWhy("cancel", make.site(9, "d = Normal(mu, std)"), paths=2, resampled=True)
    _, fixed = explain(Cause.zero, t, why, make.capture())
    assert "`d.log_prob(a.detach())`" in fixed and "f(x) - f(x)" not in fixed


@pytest.mark.parametrize(
    ("blame_op", "code", "fix"),
    [
        ("relu(inplace=True)", "F.relu(h, inplace=True)", "Pass inplace=False to that relu"),
        ("dropout(inplace=True)", "drop(h)", "Pass inplace=False to that dropout"),
        ("add_", "opt.step()", "Call the optimizer's step() after the last backward()"),
        ("mul_", "h.mul_(2)", "Replace the in-place op with its out-of-place form"),
    ],
)
def test_an_in_place_error_gets_the_fix_for_its_culprit(make, blame_op, code, fix) -> None:
    err = make.error(ErrorKind.inplace_saved, blame=make.site(7, code), blame_op=blame_op)
    assert error_fix(err).startswith(fix)


@pytest.mark.parametrize(
    ("switch", "fix"),
    [
        ("with torch.no_grad():", "move that computation out of the torch.no_grad()"),
        ("with torch.set_grad_enabled(self.train_enc):", "pass True to torch.set_grad_enabled(...)"),
        ("h = self.features(x)", "remove the @torch.no_grad() (or @torch.inference_mode()) decorator"),
    ],
)
def test_gradients_turned_off_get_the_fix_for_how(make, switch, fix) -> None:
    cut = make.cut(Cause.no_grad, BIT, 12, switch, op="linear", how=CutHow.grad_switch)
    cut.op_site = make.site(13, "h = self.enc(x)")
    _, fixed = explain(Cause.no_grad, make.target(), CutPath(cut), make.capture())
    assert fixed.startswith(f"If it should learn: {fix}"), fixed


def test_a_log_whose_input_is_not_a_softmax_is_clamped(make) -> None:
    birth = make.birth("nan", "forward", "log", 9, "g = torch.sigmoid(torch.log(x - 1.5))")
    _, fixed = explain(Cause.nonfinite, _nan_target(make), Born(birth), make.capture())
    assert fixed.startswith("Clamp the input away from zero and negatives")


def test_a_weight_after_a_dead_relu_says_it_multiplies_zeros(make) -> None:
    t = make.got("fc2.weight", delivered=GradState.zero, grad_state=GradState.zero, norm=0.0)
    why = ZeroWhy("dead_relu", make.site(32, "h = torch.relu(z)"), "relu", units=8, feeds=True)
    message, fix = explain(Cause.zero, t, why, make.capture())
    assert_plain_sentences(message, fix, "fc2.weight")
    assert "(all 8 of its units are dead), and fc2.weight multiplies that output" in message
    assert fix.startswith("Revive the dead units before it")
