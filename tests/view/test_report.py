"""The text report: one paragraph per problem (tensors sharing a cause, a line and a fix), its names listed
once, module by module, and its sentences said of all of them. Plain records only: no torch, no tracing."""

from __future__ import annotations

from gradviz.records import Capture, Cause, Verdict
from gradviz.view._report import for_group, name_list, problems_by_paragraph, report

NAMES = ["body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias", "head.weight", "head.bias"]


def frozen(name: str) -> Verdict:
    return Verdict(
        name,
        Cause.frozen,
        None,
        f"{name} has requires_grad=False, so autograd never computes a gradient for it.",
        "Nothing to fix if it is frozen on purpose. If it should learn: `model.body.requires_grad_(True)`.",
    )


def detached(name: str, norm: float = 0.5) -> Verdict:
    return Verdict(
        name,
        Cause.detach,
        "model.py:12",
        f"{name} gets no gradient (norm {norm}): its only path goes through .detach(); the values computed "
        f"from {name} stop there, and {name}'s gradient never comes.",
        f"Remove the .detach() that cuts {name}.",
        norm,
    )


def test_tensors_sharing_cause_line_and_fix_are_one_paragraph() -> None:
    verdicts = {n: frozen(n) for n in NAMES[:4]}
    verdicts |= {n: Verdict(n, Cause.ok, None, f"{n} learns.", "Nothing to fix.", 1.0) for n in NAMES[4:]}
    text = report(Capture(model_name="Net"), verdicts)
    paragraphs = [line for line in text.splitlines() if line and not line.startswith((" ", "-", "parameter"))]
    assert paragraphs[-1] == "body.* (4): frozen"
    assert text.count("requires_grad=False") == 1
    assert "  Each of them has requires_grad=False, so autograd never computes a gradient for it." in text


def test_a_fix_that_names_its_tensor_still_groups() -> None:
    groups = problems_by_paragraph([detached("a.w"), detached("a.b", 0.25), detached("c.w")])
    assert [[v.name for v in g] for g in groups] == [["a.w", "a.b", "c.w"]]


def test_different_lines_or_causes_are_different_paragraphs() -> None:
    moved = Verdict("c.w", Cause.detach, "model.py:13", "m", "Remove the .detach() that cuts c.w.")
    groups = problems_by_paragraph([detached("a.w"), moved, frozen("a.b")])
    assert [[v.name for v in g] for g in groups] == [["a.w"], ["c.w"], ["a.b"]]


def test_names_collapse_to_a_module_only_when_all_of_it_is_there() -> None:
    assert name_list(NAMES[:4], NAMES) == "body.* (4)"
    assert name_list(NAMES[:3], NAMES) == "body.0.* (2), body.2.weight"
    assert name_list(["head.weight"], NAMES) == "head.weight"
    assert name_list(["scale", "shift"], ["scale", "shift", "w"]) == "scale, shift"
    assert name_list(NAMES, NAMES) == "all 6 tensors"


def test_a_group_sentence_speaks_of_each_of_them() -> None:
    v = detached("body.0.weight")
    assert for_group(v.message, v.name) == (
        "Each of them gets no gradient: its only path goes through .detach(); the values computed from each "
        "of them stop there, and their gradient never comes."
    )
    assert for_group("Call `body.0.weight.retain_grad()` for body.0.weight.", "body.0.weight") == (
        "Call `body.0.weight.retain_grad()` for each of them."
    )


def test_a_single_problem_keeps_its_own_words() -> None:
    v = detached("head.weight")
    text = report(Capture(), {"head.weight": v})
    assert "head.weight: detach at model.py:12" in text
    assert "head.weight gets no gradient (norm 0.5)" in text
