"""The kinds of error a traced step can raise: recognised from torch's own words (``error_kind_of``), each
with its fix (``error_fix``), its clause in a verdict (``error_clause``) and the note gradviz adds to the
exception (``note_for``). Hand-built records only, no torch: the messages below are copied from torch.
"""

from __future__ import annotations

import re

import pytest

from gradviz.records import ERROR_KINDS, Carried, Cause, CutHow, ErrorKind, error_kind_of
from gradviz.verdicts import decide, note_for
from gradviz.verdicts._error_messages import error_clause, error_fix

BIT = 1

# torch's messages (str(exc)), as torch 2.x words them
TORCH_MESSAGES: dict[ErrorKind, list[str]] = {
    ErrorKind.leaf_inplace: ["a leaf Variable that requires grad is being used in an in-place operation."],
    ErrorKind.inplace_saved: [
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        "[torch.FloatTensor [3, 4]], which is output 0 of SigmoidBackward0, is at version 1; expected "
        "version 0 "
        "instead. Hint: enable anomaly detection to find the operation that failed to compute its gradient, "
        "with torch.autograd.set_detect_anomaly(True).",
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        "[torch.FloatTensor [3, 4]], which is output 0 of Sigmoid, is at version 1; expected version 0 "
        "instead. "
        "Hint: enable anomaly detection to find the operation that failed to compute its gradient, with "
        "torch.autograd.set_detect_anomaly(True, check_nan=False).",
    ],
    ErrorKind.no_grad_root: ["element 0 of tensors does not require grad and does not have a grad_fn"],
    ErrorKind.inference_saved: [
        "Inference tensors cannot be saved for backward. Please do not use Tensors created in inference mode "
        "in "
        "computation tracked by autograd. To work around this, you can make a clone to get a normal tensor "
        "and "
        "use it in autograd, or use `torch.no_grad()` instead of `torch.inference_mode()`.",
        "Inference tensors cannot be saved for backward. To work around you can make a clone to get a normal "
        "tensor and use it in autograd.",
    ],
    ErrorKind.graph_freed: [
        "Trying to backward through the graph a second time (or directly access saved tensors after they "
        "have "
        "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
        "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time "
        "or "
        "if you need to access saved tensors after calling backward."
    ],
    ErrorKind.non_scalar: [
        "grad can be implicitly created only for scalar outputs",
        "grad can be implicitly created only for real scalar outputs but got torch.complex64",
    ],
    ErrorKind.other: [
        "mat1 and mat2 shapes cannot be multiplied (4x3 and 5x2)",
        "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!",
        "element 0 of tensors does not require grad",  # only half of a signature
        "",
    ],
}


# -- the table ----------------------------------------------------------------------------------------------


def test_every_kind_has_a_table_row() -> None:
    assert set(ERROR_KINDS) == set(ErrorKind)


@pytest.mark.parametrize("kind", list(ErrorKind), ids=str)
def test_every_row_has_its_words(kind) -> None:
    text = ERROR_KINDS[kind]
    assert text.fix.endswith(".")
    assert all(fix.endswith(".") for fix in text.fix_by_blame.values())
    if kind is ErrorKind.other:  # matched by nothing, explained by torch's own message
        assert text.signature == "" and text.explanation == ""
    else:
        assert text.signature and text.explanation.endswith(".")


def test_only_a_loss_without_grad_fn_is_caused_by_a_cut() -> None:
    assert {kind for kind, text in ERROR_KINDS.items() if text.caused_by_cut} == {ErrorKind.no_grad_root}


# -- recognising a kind from torch's message -----------------------------------------------------------------


def test_every_kind_has_torch_messages() -> None:
    assert set(TORCH_MESSAGES) == set(ErrorKind)


@pytest.mark.parametrize("kind", list(ErrorKind), ids=str)
def test_kind_of_torch_message(kind) -> None:
    for message in TORCH_MESSAGES[kind]:
        assert error_kind_of(message) is kind, message


@pytest.mark.parametrize("kind", [k for k in ErrorKind if k is not ErrorKind.other], ids=str)
def test_a_message_matches_its_own_signature_only(kind) -> None:
    """The signatures do not overlap: the order of the table does not decide a kind."""
    for message in TORCH_MESSAGES[kind]:
        matching = {k for k, text in ERROR_KINDS.items() if text.signature and text.signature in message}
        assert matching == {kind}, message


def test_kind_of_a_message_with_more_lines_around_it() -> None:
    """Anomaly mode and wrappers add lines; the signature is still found."""
    message = "Error detected in SigmoidBackward0.\n" + TORCH_MESSAGES[ErrorKind.inplace_saved][0] + "\n"
    assert error_kind_of(message) is ErrorKind.inplace_saved


# -- the fix -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ErrorKind), ids=str)
def test_the_fix_of_a_kind(make, kind) -> None:
    assert error_fix(make.error(kind)) == ERROR_KINDS[kind].fix


def test_graph_freed_by_carried_state_has_its_own_fix(make) -> None:
    fix = error_fix(make.error(ErrorKind.graph_freed, blame_op="carried"))
    assert fix == ERROR_KINDS[ErrorKind.graph_freed].fix_by_blame["carried"]
    assert fix.startswith("Detach the carried state where it enters the new step (`h = h.detach()`")
    assert fix != ERROR_KINDS[ErrorKind.graph_freed].fix


def test_a_blame_op_without_its_own_fix_keeps_the_kinds_fix(make) -> None:
    assert error_fix(make.error(ErrorKind.graph_freed, blame_op="second backward")) == (
        "Run a fresh forward for each backward, or pass retain_graph=True to the first backward."
    )
    assert error_fix(make.error(ErrorKind.inplace_saved, blame_op="carried")) == (
        ERROR_KINDS[ErrorKind.inplace_saved].fix
    )


# -- the clause a verdict says ------------------------------------------------------------------------------


def _clause_cases(make) -> dict[ErrorKind, tuple[object, list[Carried], str]]:
    in_place = make.site(7, "h.mul_(2)")
    leaf = make.site(7, "w.add_(1)")
    made = make.site(4, "x = enc(x)")
    head = make.site(9, "y = self.head(h)")
    library = make.site(40, "raise ValueError(msg)", library=True)
    carried = Carried(op=0, site=make.site(21, "h = self.cell(x, h)"), shape=(), made_by="TanhBackward0")
    return {
        ErrorKind.leaf_inplace: (
            make.error(ErrorKind.leaf_inplace, phase="forward", at=leaf, blame=leaf, blame_op="add_"),
            [],
            "the in-place op add_ at model.py:7 (`w.add_(1)`) modified a leaf that requires grad",
        ),
        ErrorKind.inplace_saved: (
            make.error(ErrorKind.inplace_saved, blame=in_place, blame_op="mul_"),
            [],
            "the in-place op mul_ at model.py:7 (`h.mul_(2)`) modified a tensor autograd had saved for "
            "backward",
        ),
        ErrorKind.inference_saved: (
            make.error(
                ErrorKind.inference_saved, phase="forward", at=head, blame=made, blame_op="inference_mode"
            ),
            [],
            "a tensor made under inference_mode at model.py:4 was used in a differentiable op",
        ),
        ErrorKind.graph_freed: (
            make.error(ErrorKind.graph_freed, blame=carried.site, blame_op="carried"),
            [carried],
            "backward reached into the graph of an earlier step, which is already freed: the tensor used at "
            "model.py:21 (`h = self.cell(x, h)`) (scalar, made by TanhBackward0) carries its autograd "
            "history from "
            "before this step (state carried across steps without .detach())",
        ),
        ErrorKind.non_scalar: (
            make.error(ErrorKind.non_scalar),
            [],
            "backward() at model.py:30 was called on a non-scalar tensor without gradient=",
        ),
        ErrorKind.no_grad_root: (
            make.error(ErrorKind.no_grad_root, TORCH_MESSAGES[ErrorKind.no_grad_root][0]),
            [],
            "RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn at "
            "model.py:30 "
            "(`loss.backward()`)",
        ),
        ErrorKind.other: (
            make.error(
                ErrorKind.other, "bad", phase="forward", at=head, exc_type="ValueError", inner=library
            ),
            [],
            "ValueError: bad at model.py:9 (`y = self.head(h)`) (in library code at "
            "/venv/site-packages/lib/layers.py:40 (`raise ValueError(msg)`))",
        ),
    }


def test_every_kind_has_a_clause_case(make) -> None:
    assert set(_clause_cases(make)) == set(ErrorKind)


@pytest.mark.parametrize("kind", list(ErrorKind), ids=str)
def test_error_clause_per_kind(make, kind) -> None:
    err, carried, clause = _clause_cases(make)[kind]
    assert error_clause(err, make.capture(carried=carried)) == clause


@pytest.mark.parametrize(
    ("blame_op", "carried", "clause"),
    [
        (
            "second backward",
            False,
            "backward ran a second time through the same graph at model.py:30, whose buffers",
        ),
        ("", False, "backward ran a second time through a graph that was already freed"),
        (
            "carried",
            False,
            "backward ran a second time through a graph that was already freed",
        ),  # none recorded
        (
            "carried",
            True,
            "the tensor used at model.py:21 (`h = self.cell(x, h)`) (4×8, made by TanhBackward0)",
        ),
    ],
    ids=["second-backward", "unknown", "carried-unrecorded", "carried"],
)
def test_graph_freed_clause_by_blame(make, blame_op, carried, clause) -> None:
    state = [Carried(op=0, site=make.site(21, "h = self.cell(x, h)"), shape=(4, 8), made_by="TanhBackward0")]
    err = make.error(ErrorKind.graph_freed, blame_op=blame_op)
    assert clause in error_clause(err, make.capture(carried=state if carried else []))


def test_an_in_place_op_without_its_name(make) -> None:
    err = make.error(ErrorKind.leaf_inplace, phase="forward", at=make.site(7, "w[0] = 1"))
    assert (
        error_clause(err, make.capture())
        == "an in-place op at model.py:7 (`w[0] = 1`) modified a leaf that requires grad"
    )


def test_a_kind_outside_the_enum_reaches_unreachable(make) -> None:
    with pytest.raises(AssertionError, match="gradviz has no words for 'bogus'"):
        error_clause(make.error("bogus"), make.capture())


# -- the exception note --------------------------------------------------------------------------------------


def test_no_note_without_an_error(make) -> None:
    assert note_for(make.capture(make.target())) is None


def test_no_note_for_an_error_gradviz_cannot_explain(make) -> None:
    err = make.error(ErrorKind.other, TORCH_MESSAGES[ErrorKind.other][0], phase="forward", at=make.site(9))
    cap = make.capture(make.target(failed=True), error=err)
    assert decide(cap)["enc.weight"].cause is Cause.error
    assert note_for(cap) is None


def test_note_for_a_loss_without_grad_fn_names_the_cut(make) -> None:
    cap = make.capture(
        make.target(),
        cuts=[make.cut(Cause.detach, BIT, 12, "h = h.detach()")],
        roots=[make.root(BIT, cuts=[0], requires_grad=False)],
        error=make.error(ErrorKind.no_grad_root, TORCH_MESSAGES[ErrorKind.no_grad_root][0]),
    )
    assert note_for(cap) == (
        "gradviz: the loss has no grad_fn: every path from the parameters to the loss goes through .detach() "
        "at "
        "model.py:12 (`h = h.detach()`), which cuts the gradient.\n"
        "gradviz: where: model.py:12\n"
        "gradviz: fix: Remove the .detach() on that path."
    )


def test_note_for_a_loss_without_grad_fn_skips_retracted_cuts(make) -> None:
    switch = make.cut(
        Cause.no_grad, BIT, 3, "with torch.no_grad():", op="linear", how=CutHow.grad_switch, index=1
    )
    switch.op_site = make.site(4, "h = self.enc(x)")
    cap = make.capture(
        make.target(),
        cuts=[make.cut(Cause.no_grad, BIT, 12, how=CutHow.in_function, retracted=True), switch],
        roots=[make.root(BIT, cuts=[0, 1], requires_grad=False)],
        error=make.error(ErrorKind.no_grad_root),
    )
    note = note_for(cap)
    assert note is not None
    assert note.splitlines() == [
        "gradviz: the loss has no grad_fn: every path from the parameters to the loss ran with gradient "
        "tracking "
        "off: `with torch.no_grad():` at model.py:3 turned it off around `h = self.enc(x)` at model.py:4.",
        "gradviz: where: model.py:3",
        "gradviz: fix: Move that computation out of the torch.no_grad() / inference_mode() block.",
    ]


def test_note_for_a_loss_without_grad_fn_and_no_cut(make) -> None:
    cap = make.capture(
        make.target(), roots=[make.root(0, requires_grad=False)], error=make.error(ErrorKind.no_grad_root)
    )
    assert note_for(cap) == (
        "gradviz: the loss does not depend on any tensor that requires grad (nothing in it was computed with "
        "gradient tracking from a parameter).\n"
        "gradviz: where: model.py:30\n"
        f"gradviz: fix: {ERROR_KINDS[ErrorKind.no_grad_root].fix}"
    )


def test_note_for_a_modified_saved_tensor_names_the_in_place_line(make) -> None:
    """torch names the op that saved the tensor (Sigmoid); the note names the in-place line to change."""
    err = make.error(
        ErrorKind.inplace_saved,
        TORCH_MESSAGES[ErrorKind.inplace_saved][0].split(" Hint:")[0],
        blame=make.site(7, "h.mul_(2)"),
        blame_op="mul_",
    )
    note = note_for(make.capture(make.target(failed=True), error=err, backward_calls=1))
    assert note is not None
    first, where, fix = note.splitlines()
    assert first == (
        "gradviz: the in-place op mul_ at model.py:7 (`h.mul_(2)`) modified a tensor autograd had saved for "
        "backward; torch's message names the op that saved it, not the line to change."
    )
    assert where == "gradviz: where: model.py:7"  # not model.py:30, where backward() raised
    assert fix == f"gradviz: fix: {ERROR_KINDS[ErrorKind.inplace_saved].fix}"
    assert "Sigmoid" not in note


def test_a_modified_saved_tensor_without_a_culprit_does_not_blame_the_backward_line(make) -> None:
    err = make.error(ErrorKind.inplace_saved, TORCH_MESSAGES[ErrorKind.inplace_saved][0], blame=None)
    cap = make.capture(make.target(failed=True), error=err, backward_calls=1)
    verdict = decide(cap)["enc.weight"]
    note = note_for(cap)
    assert note is not None
    for text in (verdict.message, note):
        assert not re.search(r"in-place op at model\.py:30\b", text), text


def test_note_for_an_in_place_write_into_a_leaf(make) -> None:
    line = make.site(7, "w.add_(1)")
    err = make.error(
        ErrorKind.leaf_inplace,
        TORCH_MESSAGES[ErrorKind.leaf_inplace][0],
        phase="forward",
        at=line,
        blame=line,
        blame_op="add_",
    )
    assert note_for(make.capture(make.target(), error=err)) == (
        "gradviz: the in-place op add_ at model.py:7 (`w.add_(1)`) modified a leaf that requires grad.\n"
        "gradviz: where: model.py:7\n"
        f"gradviz: fix: {ERROR_KINDS[ErrorKind.leaf_inplace].fix}"
    )


def test_note_for_a_graph_freed_by_carried_state(make) -> None:
    carried = Carried(op=0, site=make.site(21, "h = self.cell(x, h)"), shape=(4, 8), made_by="TanhBackward0")
    err = make.error(
        ErrorKind.graph_freed,
        TORCH_MESSAGES[ErrorKind.graph_freed][0],
        blame=carried.site,
        blame_op="carried",
    )
    note = note_for(make.capture(make.target(failed=True), error=err, carried=[carried], backward_calls=1))
    assert note is not None
    first, where, fix = note.splitlines()
    assert first.startswith(
        "gradviz: backward reached into the graph of an earlier step, which is already freed"
    )
    assert first.endswith("(state carried across steps without .detach()).")
    assert where == "gradviz: where: model.py:21"
    assert fix == f"gradviz: fix: {ERROR_KINDS[ErrorKind.graph_freed].fix_by_blame['carried']}"


@pytest.mark.parametrize("kind", list(ErrorKind), ids=str)
def test_every_kind_but_other_gets_a_note_of_three_lines(make, kind) -> None:
    err = make.error(kind, TORCH_MESSAGES[kind][0], blame=make.site(7, "h.mul_(2)"))
    note = note_for(make.capture(make.target(failed=True), error=err, backward_calls=1))
    if kind is ErrorKind.other:
        assert note is None
        return
    assert note is not None
    first, where, fix = note.splitlines()
    assert first.startswith("gradviz: ") and first.endswith(".") and not first.endswith("..")
    assert where.startswith("gradviz: where: model.py:")
    assert fix.startswith("gradviz: fix: ") and fix.endswith(".")
