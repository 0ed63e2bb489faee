"""What the watch view says about a NaN's birth (gradviz/view/_watch_forensics.py), from plain records:
each kind of birth, the loss, no replay, a replay that found nothing; and how it enters the watch state."""

from __future__ import annotations

import pytest

from gradviz.records import Birth, History, Site
from gradviz.view._watch_forensics import LISTED_BIRTHS, watch_forensics
from gradviz.view._watch_state import build_watch_state

SITE = Site("/nowhere/model.py", 41, "att = F.softmax(att, dim=-1)")


def _birth(
    phase: str = "forward", op: str = "softmax", kind: str = "nan", detail: str = "", site=SITE
) -> Birth:
    return Birth(kind, phase, 0, op, "g3", site, detail)


def _graph(markers: int) -> tuple[dict, bytes, bytes]:
    nodes = [{"id": "g3", "kind": "op"}] + [{"id": f"b{i}", "kind": "birth"} for i in range(markers)]
    return {"title": "a trace's title", "nodes": nodes, "edges": []}, b"\0\0\0\0", b""


@pytest.mark.parametrize(
    ("phase", "kind", "sentence", "title"),
    [
        (
            "forward",
            "nan",
            "the NaN was born in the forward of softmax at model.py:41",
            "NaN born in softmax (forward)",
        ),
        (
            "backward",
            "inf",
            "the Inf was born in the backward of softmax at model.py:41",
            "Inf born in the backward of softmax",
        ),
        (
            "input",
            "nan",
            "the NaN was first seen in an input of softmax at model.py:41",
            "NaN first seen in an input of softmax",
        ),
    ],
)
def test_a_birth_names_its_op_phase_and_line(phase, kind, sentence, title):
    shown = watch_forensics(60, [_birth(phase, kind=kind, detail="how")], replay=_graph(1))
    assert shown.info["text"] == f"Replayed step 60: {sentence} — how."
    assert shown.info["title"] == f"Step 60, replayed: {title} at model.py:41"
    assert shown.graph["title"] == shown.info["title"]  # the replayed graph says what it is
    assert shown.graph["notes"] == []  # the birth marker says it
    assert shown.info["births"] == [
        {
            "kind": kind,
            "phase": phase,
            "op": "softmax",
            "where": "/nowhere/model.py:41",
            "short": "model.py:41",
            "code": SITE.code,
            "detail": "how",
            "node": "b0",
        }
    ]
    assert (shown.edge_norms, shown.hists) == (b"\0\0\0\0", b"")


def test_more_births_are_counted_and_each_listed_one_has_its_marker():
    births = [_birth(op=f"op{i}") for i in range(LISTED_BIRTHS + 2)]
    shown = watch_forensics(3, births, replay=_graph(len(births)))
    assert shown.info["births_total"] == LISTED_BIRTHS + 2
    assert [b["node"] for b in shown.info["births"]] == [f"b{i}" for i in range(LISTED_BIRTHS)]
    assert shown.info["text"].endswith(f"; {LISTED_BIRTHS + 1} more births in the graph.")


def test_a_birth_with_no_line_and_a_replay_note():
    shown = watch_forensics(
        9, [_birth(site=None)], reason="the step ran 2 forwards (gradient accumulation)", replay=_graph(1)
    )
    assert shown.info["text"] == (
        "Replayed step 9: the NaN was born in the forward of softmax; the step ran 2 forwards (gradient "
        "accumulation)."
    )
    assert shown.info["births"][0]["where"] is None and shown.info["births"][0]["short"] is None


def test_from_the_loss():
    shown = watch_forensics(45, [], from_loss=True, replay=_graph(0))
    assert shown.info["from_loss"] is True and shown.info["replayed"] is True
    assert shown.graph["notes"] == [
        shown.info["text"]
    ]  # above the replayed graph, whose verdicts cannot say it
    assert shown.info["text"] == (
        "Replayed step 45: it came from the loss, outside the model (the model's output was finite; the "
        "gradient arriving at it was already NaN/Inf)."
    )


def test_without_a_replay_it_says_why_and_never_guesses():
    shown = watch_forensics(5, [], reason="no replay: watch(..., forensics=True) arms it")
    assert shown.info["replayed"] is False and shown.graph == {} and shown.edge_norms == b""
    assert shown.info["title"] == ""
    assert shown.info["text"] == (
        "Step 5 was not replayed, so where the NaN/Inf was born is not known: watch(..., forensics=True) "
        "arms it."
    )
    found_nothing = watch_forensics(
        5, [], reason="the replay's gradients are finite: not reproduced", replay=_graph(0)
    )
    assert found_nothing.info["text"] == (
        "Replayed step 5, but where the NaN/Inf was born is not known: the replay's gradients are finite: "
        "not reproduced."
    )


def test_the_watch_state_carries_it():
    history = History.empty(["enc.weight"])
    assert build_watch_state(history)["timeline"]["forensics"] is None
    shown = watch_forensics(60, [_birth()], replay=_graph(1))
    state = build_watch_state(history, forensics=shown)
    assert state["timeline"]["forensics"] is shown.info
    assert (state["replay"], state["replay_edge_norms"], state["replay_hists"]) == (
        shown.graph,
        shown.edge_norms,
        shown.hists,
    )
