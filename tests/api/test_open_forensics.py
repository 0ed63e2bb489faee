"""NaN forensics on a run opened later: ``gradviz.watch(..., forensics=True, log_dir=...)`` writes the first
NaN/Inf step to ``forensics.json`` (gradviz/runlog/_format.py), and ``gradviz.open(log_dir).first_nonfinite``
and its view say what the live monitor said. The live monitor's words are checked against plain torch by
tests/api/test_watch_forensics*.py; here the step and parameters are checked against plain torch again, and
every word and every byte of the view against the live monitor's.

Also: a run folder without the file (older writers, a finite run), a malformed or too-deep file (left out,
said in the view and the repr, never an exception), and a directory that no longer takes the file (warned
once; the training, compared bitwise with plain torch, goes on).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from test_watch_forensics import Net, _batches, _train, gpt12_batches, gpt12_make, gpt12_run
from test_watch_forensics_state import LOG_AT, log_counts, log_loss_run

import gradviz
from gradviz.runlog._format import FORENSICS, GRADS, GRAPH, HEADER, WEIGHTS
from gradviz.runlog._json import MAX_DEPTH

_VIEW = ("timeline", "replay", "replay_edge_norms", "replay_hists", "graph", "edge_norms", "hists")


def _plain_first(batches, loss_fn=None) -> tuple[int | None, set[str]]:
    """Plain torch: the first step whose gradient was not finite, and the parameters it hit."""
    torch.manual_seed(0)
    model = Net(p=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for step, x in enumerate(batches):
        opt.zero_grad()
        out = model(x)
        (loss_fn(out) if loss_fn else out.pow(2).mean()).backward()
        bad = {n for n, p in model.named_parameters() if not torch.isfinite(p.grad).all()}
        if bad:
            return step, bad
        opt.step()
    return None, set()


def _watched(log_dir, batches, *, forensics=True, loss_fn=None):
    torch.manual_seed(0)
    model = Net(p=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with gradviz.watch(model, opt, weights_every=None, forensics=forensics, log_dir=log_dir) as mon:
        if loss_fn is None:
            _train(model, opt, batches)
        else:
            _train(model, opt, batches, loss_fn)
    return mon


def _same_view(mon, run) -> None:
    live, opened = mon._state(), run._state()
    for key in _VIEW:
        if key == "timeline":
            a, b = dict(live[key]), dict(opened[key])
            assert a.pop("live") is False and b.pop("live") is False
            assert a == b
        else:
            assert live[key] == opened[key], key


def _same_words(f, g) -> None:
    assert (g.step, g.parameters, g.reason, g.from_loss) == (f.step, f.parameters, f.reason, f.from_loss)
    assert g.birth() == f.birth() and repr(g) == repr(f)
    assert g.trace is None


def test_an_opened_run_says_where_the_nan_was_born_as_the_live_monitor_did(tmp_path):
    batches = _batches(8, bad=5)
    step, hit = _plain_first(batches)
    mon = _watched(tmp_path / "run", batches)
    f = mon.first_nonfinite
    assert f.step == step == 5 and set(f.parameters) == hit and f.trace is not None
    assert (tmp_path / "run" / FORENSICS).is_file()
    run = gradviz.open(tmp_path / "run")
    g = run.first_nonfinite
    _same_words(f, g)
    assert "the backward of sqrt" in g.birth()
    _same_view(mon, run)
    state = run._state()
    assert state["timeline"]["forensics"]["replayed"] is True
    marker = state["timeline"]["forensics"]["births"][0]["node"]
    assert any(n["id"] == marker and n["kind"] == "birth" for n in state["replay"]["nodes"])
    assert run.widget().replay == mon._state()["replay"]  # the widget shows it
    page = run.save_html(tmp_path / "run.html").read_text(encoding="utf-8")
    assert "the backward of sqrt" in page


def test_a_nan_from_the_loss_and_a_run_without_replay_read_back_the_same(tmp_path):
    def loss_fn(out):
        return torch.sqrt(out - 100).mean()

    batches = _batches(6, bad=-1)
    step, _ = _plain_first(batches, loss_fn)
    mon = _watched(tmp_path / "loss", batches, loss_fn=loss_fn)
    assert mon.first_nonfinite.step == step and mon.first_nonfinite.from_loss
    run = gradviz.open(tmp_path / "loss")
    _same_words(mon.first_nonfinite, run.first_nonfinite)
    assert "the loss" in run.first_nonfinite.birth()
    _same_view(mon, run)
    # unarmed: no replay, and the reason says how to arm it, on disk too
    mon = _watched(tmp_path / "unarmed", _batches(7, bad=5), forensics=False)
    run = gradviz.open(tmp_path / "unarmed")
    _same_words(mon.first_nonfinite, run.first_nonfinite)
    assert "forensics=True" in run.first_nonfinite.birth()
    _same_view(mon, run)
    assert run._state()["replay"] == {}


def test_the_gpt12_masked_row_reads_back_with_its_replayed_graph(tmp_path):
    """The done-when run of issue 21: its replayed graph (marked softmax) is the same opened."""
    model, opt = gpt12_make()
    with gradviz.watch(model, opt, forensics=True, log_dir=tmp_path / "gpt") as mon:
        first = gpt12_run(model, opt, gpt12_batches())
    assert mon.first_nonfinite.step == first == 60
    run = gradviz.open(tmp_path / "gpt")
    _same_words(mon.first_nonfinite, run.first_nonfinite)
    assert "softmax" in run.first_nonfinite.birth()
    _same_view(mon, run)


def test_a_log_of_a_negative_in_the_loss_reads_back(tmp_path):
    batches, counts = gpt12_batches(LOG_AT + 2, empty_at=-1), log_counts(LOG_AT + 2)
    model, opt = gpt12_make()
    with gradviz.watch(model, opt, forensics=True, log_dir=tmp_path / "log") as mon:
        log_loss_run(model, opt, batches, counts)
    assert mon.first_nonfinite.step == LOG_AT and mon.first_nonfinite.from_loss
    run = gradviz.open(tmp_path / "log")
    _same_words(mon.first_nonfinite, run.first_nonfinite)
    _same_view(mon, run)


def test_a_run_without_the_file_has_no_first_nonfinite_and_its_view_is_as_before(tmp_path):
    torch.manual_seed(0)
    model = Net(p=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with gradviz.watch(model, opt, forensics=True, log_dir=tmp_path / "finite") as mon:
        _train(model, opt, _batches(4, bad=-1))
    assert mon.first_nonfinite is None and not (tmp_path / "finite" / FORENSICS).exists()
    run = gradviz.open(tmp_path / "finite")
    assert run.first_nonfinite is None and run._state()["timeline"]["forensics"] is None
    _same_view(mon, run)
    # a NaN run written by a gradviz without forensics.json (the file removed): the history still says
    # which step went NaN, nothing says where it was born, and nothing fails
    mon = _watched(tmp_path / "old", _batches(8, bad=5))
    os.remove(tmp_path / "old" / FORENSICS)
    run = gradviz.open(tmp_path / "old")
    assert run.first_nonfinite is None and run._reader.problems == []
    state = run._state()
    assert state["timeline"]["forensics"] is None and state["replay"] == {}
    assert state["timeline"]["first_nonfinite"]["step"] == mon.first_nonfinite.step == 5


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("{not json", "is not valid JSON"),
        ('{"step": 5, "view": ' + _deep(MAX_DEPTH + 10) + "}", f"nests deeper than {MAX_DEPTH} levels"),
        ("[1, 2]", "holds a JSON list"),
        ("", "is not valid JSON"),
        (None, "'parameters' should be a list"),  # a field of the wrong type, in a file otherwise whole
        (1, "'view.births[0].kind' should be"),
        (2, "'replay'"),
        (3, "NaN, which is not a JSON number"),
    ],
)
def test_a_malformed_or_too_deep_file_is_left_out_and_said(tmp_path, content, said):
    mon = _watched(tmp_path / "run", _batches(8, bad=5))
    path = tmp_path / "run" / FORENSICS
    if not isinstance(content, str):
        saved = json.loads(path.read_text(encoding="utf-8"))
        if content is None:
            saved["parameters"] = "a.weight"
        elif content == 1:
            saved["view"]["births"][0]["kind"] = "nan!"
        elif content == 2:
            saved["replay"] = {"graph": [], "edge_norms": "", "hists": ""}
        content = json.dumps(saved)
        if said.startswith("NaN"):
            content = content.replace('"from_loss": false', '"from_loss": NaN', 1)
    path.write_text(content, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = gradviz.open(tmp_path / "run")
        assert run.first_nonfinite is None
        state = run._state()
    info = state["timeline"]["forensics"]
    assert info["replayed"] is False and info["births"] == [] and state["replay"] == {}
    assert info["step"] == mon.first_nonfinite.step == 5  # the history's first NaN/Inf step
    assert info["text"].startswith(
        "Where the NaN/Inf of step 5 was born cannot be shown: forensics.json left out"
    )
    assert said in info["text"], info["text"]
    assert said in repr(run)


_READ_ONLY = textwrap.dedent(
    """
    import copy, json, os, sys, warnings
    import torch
    import gradviz

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(4, 8), torch.nn.Linear(8, 1)
        def forward(self, x):
            h = torch.relu(self.a(x))
            d = (h[:4] - h[4:]).pow(2).sum(-1).sqrt()  # rows that match: sqrt's backward at 0 is Inf
            return self.b(h).squeeze(-1)[:4] + d

    log_dir = sys.argv[1]
    torch.manual_seed(0)
    model = Net()
    plain = copy.deepcopy(model)
    opt, plain_opt = (torch.optim.SGD(m.parameters(), lr=0.01) for m in (model, plain))
    g = torch.Generator().manual_seed(1)
    same = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mon = gradviz.watch(model, opt, weights_every=None, forensics=True, log_dir=log_dir)
        for step in range(8):
            x = torch.randn(8, 4, generator=g)
            if step == 5:
                x[4:] = x[:4]
            for m, o in ((model, opt), (plain, plain_opt)):
                o.zero_grad()
                m(x).pow(2).mean().backward()
            same &= all(torch.equal(a.grad, b.grad) or torch.equal(a.grad.isnan(), b.grad.isnan())
                        for a, b in zip(model.parameters(), plain.parameters()))
            opt.step()
            plain_opt.step()
            if step == 0:
                os.chmod(log_dir, 0o555)  # graph.json is there; the directory takes no new file now
        mon.close()
    f = mon.first_nonfinite
    print(json.dumps({
        "same": same, "step": f.step, "birth": f.birth(), "recorded": len(mon.history),
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
    }))
    """
)


def _read_only_for_us() -> dict:
    """Popen arguments under which the child obeys directory permissions (root drops CAP_DAC_OVERRIDE,
    as tests/runlog/test_hardening_writes.py does)."""
    if os.geteuid() != 0:
        return {}
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def drop() -> None:
        for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH (PR_CAPBSET_DROP)
            if libc.prctl(24, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return {"preexec_fn": drop}


@pytest.mark.slow
def test_a_directory_that_no_longer_takes_the_file_warns_once_and_training_goes_on(tmp_path):
    log_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", _READ_ONLY, str(log_dir)],
        capture_output=True,
        text=True,
        timeout=180,
        **_read_only_for_us(),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["same"] and result["recorded"] == 8 and result["step"] == 5
    assert "the backward of sqrt" in result["birth"]  # the monitor has it in memory
    # headroom.json, written at step 0, cannot be rewritten at close either: said once, the old one stays
    warned, headroom_warned = result["warnings"]
    assert FORENSICS in warned and "could not write" in warned and "Permission denied" in warned
    assert "headroom.json" in headroom_warned and "Permission denied" in headroom_warned
    names = sorted(p.name for p in log_dir.iterdir())
    assert names == sorted([HEADER, GRADS, WEIGHTS, GRAPH, "headroom.json"])
    run = gradviz.open(log_dir)
    assert run.first_nonfinite is None and run._state()["timeline"]["forensics"] is None
    assert run.history.first_nonfinite[0] == 5


def test_a_forensics_view_that_json_cannot_hold_warns_once(tmp_path, monkeypatch):
    """A write that fails for another reason than the disk (here: a NaN in what would be written) is left
    out the same way: one warning, no file, no temporary file, the training goes on."""
    import gradviz.runlog._writer as writer

    real = writer.RunWriter.write_forensics

    def poisoned(self, record, replay=None):
        return real(self, {**record, "view": {**record["view"], "bad": float("nan")}}, replay)

    monkeypatch.setattr(writer.RunWriter, "write_forensics", poisoned)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mon = _watched(tmp_path / "run", _batches(8, bad=5))
    assert [FORENSICS in str(w.message) for w in caught] == [True]
    assert mon.first_nonfinite.step == 5 and len(mon.history) == 8
    assert not (tmp_path / "run" / FORENSICS).exists()
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
