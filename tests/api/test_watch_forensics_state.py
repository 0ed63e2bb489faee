"""The watch view's state for NaN forensics (``timeline.forensics`` and the ``replay`` traits, js/STATE.md):
what ``mon.first_nonfinite`` found, passed on as plain data, and the replayed step's graph with its birth
marked. Truth: plain torch runs of the same training (the step that first had a NaN gradient, which
parameters it hit, whether the model's output was finite) and the model's source (the line of the op).

Two runs of the done-when of issue 21: the GPT-12 of tests/api/test_watch_forensics.py that goes NaN at
step 60 from a fully masked attention row, and the same GPT trained with a loss that takes the log of a
negative value (a per-sequence weight, log of a count, where one count is the sentinel -1).
"""

from __future__ import annotations

import inspect
import json
import pathlib

import pytest
import torch
import torch.nn.functional as F
from test_watch_forensics import Net, _Attn, _batches, gpt12_batches, gpt12_make, gpt12_run

import gradviz
from gradviz.view._watch_state import WATCH_TRAITS

LOG_AT = 45  # the step whose batch holds the count -1


def log_counts(steps: int) -> torch.Tensor:
    """Per step and sequence, how many documents it came from; one is the sentinel -1 ("unknown")."""
    counts = torch.full((steps, 4), 5.0)
    counts[LOG_AT, 1] = -1.0
    return counts


def log_loss_run(model, opt, batches, counts, on_step=None) -> None:
    """Train on ``batches`` with each sequence's loss weighted by the log of its count: log(-1) is NaN,
    and so is the gradient it multiplies. ``on_step(step, logits, model)`` after each backward."""
    for step, (idx, keep) in enumerate(batches):
        opt.zero_grad()
        logits = model(idx[:, :-1], keep=keep)
        if on_step is not None:
            logits.retain_grad()
        ce = F.cross_entropy(logits.transpose(1, 2), idx[:, 1:], reduction="none").mean(-1)
        (ce * torch.log(counts[step])).mean().backward()  # the log of a negative count
        if on_step is not None:
            on_step(step, logits, model)
        opt.step()


def _line_of(function, text: str) -> int:
    """The line number of the source line of ``function`` that holds ``text``: the truth for "where"."""
    lines, start = inspect.getsourcelines(function)
    (hit,) = [start + i for i, line in enumerate(lines) if text in line]
    return hit


def _nonfinite(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.grad is not None and not p.grad.isfinite().all()}


def _nonfinite_in_graph(graph: dict) -> set[str]:
    return {v["name"] for v in graph["verdicts"] if v["severity"] == "nonfinite"}


@pytest.fixture(scope="module")
def masked():
    """The GPT-12 whose attention row is masked entirely at step 60, watched (its widget open from the
    start, as in a notebook), and the plain torch truth of that step."""
    batches = gpt12_batches()
    plain, plain_opt = gpt12_make()
    truth: dict = {}

    def run_plain():
        for step, (idx, keep) in enumerate(batches):
            plain_opt.zero_grad()
            F.cross_entropy(plain(idx[:, :-1], keep=keep).flatten(0, 1), idx[:, 1:].flatten()).backward()
            if _nonfinite(plain):
                truth.update(step=step, hit=_nonfinite(plain))
                return
            plain_opt.step()

    run_plain()
    model, opt = gpt12_make()
    mon = gradviz.watch(model, opt, forensics=True)
    widget = mon.widget()
    assert widget.timeline["forensics"] is None and widget.replay == {}  # finite so far
    gpt12_run(model, opt, batches)
    mon.close()
    return mon, widget, truth


def test_the_masked_row_birth_is_in_the_state_at_the_softmax_line(masked):
    mon, _, truth = masked
    f = mon.first_nonfinite
    state = mon._state()
    info = state["timeline"]["forensics"]
    assert info["step"] == f.step == truth["step"] == 60
    assert info["replayed"] is True and info["from_loss"] is False and info["reason"] == ""
    born = f.trace.capture.births
    assert info["births_total"] == len(born) >= 1
    first = info["births"][0]
    assert (first["op"], first["phase"], first["kind"]) == (born[0].op_name, born[0].phase, born[0].kind)
    assert (first["op"], first["phase"]) == ("softmax", "forward")
    line = _line_of(_Attn.forward, "F.softmax(att")
    assert first["where"] == born[0].site.where
    file, _, at = first["where"].rpartition(":")
    assert pathlib.Path(file).resolve() == pathlib.Path(inspect.getsourcefile(_Attn)).resolve()
    assert int(at) == line
    assert first["short"] == f"test_watch_forensics.py:{line}"
    assert "F.softmax(att, dim=-1)" in first["code"]
    where = f"softmax at test_watch_forensics.py:{line}"
    assert f"Replayed step 60: the NaN was born in the forward of {where}" in info["text"]
    assert (
        info["title"] == f"Step 60, replayed: NaN born in softmax (forward) at test_watch_forensics.py:{line}"
    )


def test_the_replayed_graph_marks_the_birth_and_the_parameters_torch_saw_go_nan(masked):
    mon, _, truth = masked
    state = mon._state()
    replay, info = state["replay"], state["timeline"]["forensics"]
    assert replay["title"] == info["title"]
    nodes = {n["id"]: n for n in replay["nodes"]}
    marker = nodes[info["births"][0]["node"]]
    assert marker["kind"] == "birth" and marker["birth"]["op"] == "softmax"
    (edge,) = [e for e in replay["edges"] if e["source"] == marker["id"]]
    assert edge["kind"] == "birth"
    assert nodes[edge["target"]]["severity"] == "nonfinite" and nodes[edge["target"]]["kind"] == "op"
    assert _nonfinite_in_graph(replay) == truth["hit"]  # what plain torch's .grad held at that step
    assert len(state["replay_edge_norms"]) == 4 * len(replay["edges"])
    # the first backward's graph stays what it was
    assert state["graph"] == mon.graph[0] and "first backward" in state["graph"]["title"]


def test_the_open_widget_got_the_replay_and_it_is_built_once(masked):
    mon, widget, _ = masked
    state = mon._state()
    assert widget.timeline["forensics"] == state["timeline"]["forensics"]
    assert widget.replay == state["replay"] and widget.replay_hists == state["replay_hists"]
    assert mon._state()["replay"] is state["replay"]  # not rebuilt per update


def test_the_saved_page_holds_the_replay(masked, tmp_path):
    mon, _, _ = masked
    page = mon.save_html(tmp_path / "gpt.html").read_text(encoding="utf-8")
    start = page.index('id="gradviz-state">') + len('id="gradviz-state">')
    inlined = json.loads(page[start : page.index("</script>", start)])
    assert inlined["values"]["replay"]["title"] == mon._state()["replay"]["title"]
    assert inlined["values"]["timeline"]["forensics"]["births"][0]["op"] == "softmax"
    assert set(inlined["bytes"]) == set(WATCH_TRAITS) - {"timeline", "graph", "replay"}


def test_a_log_of_a_negative_in_the_loss_is_said_to_come_from_the_loss():
    batches, counts = gpt12_batches(LOG_AT + 2, empty_at=-1), log_counts(LOG_AT + 2)
    plain, plain_opt = gpt12_make()
    truth: dict = {}

    def look(step, logits, model):
        if "step" not in truth and _nonfinite(model):
            truth.update(
                step=step,
                hit=_nonfinite(model),
                output_finite=bool(logits.isfinite().all()),
                output_grad_finite=bool(logits.grad.isfinite().all()),
            )

    log_loss_run(plain, plain_opt, batches, counts, look)
    # plain torch: the model's output was finite, the gradient arriving at it was not: the loss made it
    assert truth["step"] == LOG_AT and truth["output_finite"] and not truth["output_grad_finite"]
    model, opt = gpt12_make()
    with gradviz.watch(model, opt, forensics=True) as mon:
        log_loss_run(model, opt, batches, counts)
    state = mon._state()
    info = state["timeline"]["forensics"]
    assert info["step"] == mon.first_nonfinite.step == truth["step"]
    assert info["from_loss"] is True and info["replayed"] is True and info["births"] == []
    assert info["text"].startswith(f"Replayed step {LOG_AT}: it came from the loss, outside the model")
    assert info["title"] == f"Step {LOG_AT}, replayed: the NaN/Inf came from the loss, outside the model"
    assert _nonfinite_in_graph(state["replay"]) == truth["hit"]


def test_without_a_replay_the_state_says_why():
    model = Net(p=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with gradviz.watch(model, opt, weights_every=None, forensics=True) as mon:
        for x in _batches(8, bad=5):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            x.mul_(0)  # the batch is reused in place before the step: no replay
            opt.step()
    state = mon._state()
    info = state["timeline"]["forensics"]
    assert info["replayed"] is False and state["replay"] == {} and state["replay_edge_norms"] == b""
    assert info["step"] == mon.first_nonfinite.step == 5
    assert info["reason"] == mon.first_nonfinite.reason
    assert info["text"] == (
        f"Step 5 was not replayed, so where the NaN/Inf was born is not known: {mon.first_nonfinite.reason}."
    )


def test_unarmed_forensics_says_how_to_arm_it_and_a_finite_run_says_nothing():
    model = Net(p=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with gradviz.watch(model, opt, weights_every=None) as mon:
        for x in _batches(7, bad=5):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
    info = mon._state()["timeline"]["forensics"]
    assert info["replayed"] is False and "watch(..., forensics=True) arms it" in info["text"]
    with gradviz.watch(model := Net(p=0.0), torch.optim.SGD(model.parameters(), lr=0.01)) as finite:
        pass
    assert finite._state()["timeline"]["forensics"] is None and finite._state()["replay"] == {}
