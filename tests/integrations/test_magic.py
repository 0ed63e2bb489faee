"""``%load_ext gradviz`` and ``%%gradviz``, driven through a real IPython InteractiveShell.

Expected verdicts are checked against plain torch run on a copy of the same model and batch.
"""

from __future__ import annotations

import copy
import sys

import pytest
import torch

import gradviz
from gradviz import Cause

InteractiveShell = pytest.importorskip("IPython.core.interactiveshell").InteractiveShell

SETUP = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.enc(x).relu().detach())

torch.manual_seed(0)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x = torch.randn(5, 4)
"""


@pytest.fixture
def shell(monkeypatch):
    # InteractiveShell replaces sys.modules["__main__"] (multiprocessing's spawn reads it later) and hooks
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    monkeypatch.setattr(sys, "displayhook", sys.displayhook)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    sh = InteractiveShell.instance()
    sh.reset()
    assert sh.run_cell("%load_ext gradviz").success
    setup = sh.run_cell(SETUP, store_history=True)
    assert setup.success
    sh.user_ns["setup_cell"] = setup.execution_count
    yield sh
    sh.reset()
    InteractiveShell.clear_instance()


def run(shell, cell: str):
    return shell.run_cell(cell, store_history=True)


def torch_grads(shell) -> dict[str, torch.Tensor | None]:
    """Plain torch: the same step on a copy of the model."""
    model = copy.deepcopy(shell.user_ns["model"])
    model.zero_grad(set_to_none=True)
    model(shell.user_ns["x"]).pow(2).mean().backward()
    return {n: p.grad for n, p in model.named_parameters()}


def test_the_model_is_found_among_the_cells_globals_and_the_trace_is_the_cells_value(shell) -> None:
    truth = torch_grads(shell)
    result = run(shell, "%%gradviz\nloss = model(x).pow(2).mean()\nloss.backward()\n")
    assert result.success
    t = result.result
    assert isinstance(t, gradviz.Trace)
    for name, grad in truth.items():
        expected = Cause.detach if grad is None else Cause.ok
        assert t.verdicts[name].cause is expected, name
    # where: the cell that defined the model, as IPython numbers it (IPython drops the leading blank line)
    assert t.verdicts["enc.weight"].where == f"In[{shell.user_ns['setup_cell']}]:11"


def test_line_numbers_count_the_magic_line(shell) -> None:
    result = run(shell, "%%gradviz\nh = model.enc(x)\nh = h.detach()\nmodel.head(h).sum().backward()\n")
    assert result.success
    where = f"In[{result.execution_count}]:3"  # `h = h.detach()`, line 3 of the cell as shown
    assert result.result.verdicts["enc.weight"].where == where


def test_model_and_optimizer_named(shell) -> None:
    run(shell, "other = nn.Linear(4, 1)\nhead_only = torch.optim.SGD(model.head.parameters(), lr=0.1)\n")
    result = run(shell, "%%gradviz model head_only\nmodel(x).sum().backward()\n")
    t = result.result
    assert t.verdicts["head.weight"].cause is Cause.ok
    assert t.verdicts["enc.weight"].cause is Cause.detach  # cut before the optimizer question matters
    # the same step with the full optimizer named: head is in it; with head_only it is too
    assert result.success


def test_a_parameter_outside_the_named_optimizer(shell) -> None:
    run(shell, "model2 = nn.Linear(4, 1)\nopt2 = torch.optim.SGD([model2.weight], lr=0.1)\n")
    truth = copy.deepcopy(shell.user_ns["model2"])
    truth(shell.user_ns["x"]).sum().backward()
    assert truth.bias.grad is not None  # torch: bias gets a gradient; opt2 does not hold it
    t = run(shell, "%%gradviz model2 opt2\nmodel2(x).sum().backward()\n").result
    assert t.verdicts["weight"].cause is Cause.ok
    assert t.verdicts["bias"].cause is Cause.not_in_optimizer


def test_several_models_and_none_named_is_a_usage_error(shell) -> None:
    run(shell, "other = nn.Linear(4, 1)\n")
    result = run(shell, "%%gradviz\nprint('never runs')\n")
    assert not result.success and "name the one" in str(result.error_in_exec)


def test_the_cell_names_its_model(shell) -> None:
    run(shell, "other = nn.Linear(4, 1)\n")
    t = run(shell, "%%gradviz\nother(x).sum().backward()\n").result
    assert set(t.verdicts) == {"weight", "bias"} and all(v.ok for v in t.verdicts.values())


def test_a_cell_that_builds_its_own_model_traces_its_tensors(shell) -> None:
    cell = "%%gradviz\nmodel = nn.Linear(4, 1)\nmodel.bias.requires_grad_(False)\nmodel(x).sum().backward()\n"
    t = run(shell, cell).result
    new = shell.user_ns["model"]
    assert new.weight.grad is not None and new.bias.grad is None  # torch
    # the new model's tensors (the frozen bias among them), not the old Net's enc/head
    assert sorted(v.cause for v in t.verdicts.values()) == [Cause.frozen, Cause.ok]
    assert not any(name.startswith(("enc", "head")) for name in t.verdicts)


def test_watch_records_the_training_cell_and_shows_the_monitor(shell) -> None:
    cell = "%%gradviz --watch --name mon\nfor i in range(3):\n    opt.zero_grad()\n"
    cell += "    model(x).pow(2).mean().backward()\n    opt.step()\n"
    result = run(shell, cell)
    assert result.success and result.result is None  # shown live before the cell ran, not as Out
    mon = shell.user_ns["mon"]
    assert isinstance(mon, gradviz.Monitor) and mon.closed
    history = mon.history
    assert history.steps.tolist() == [0, 1, 2]
    assert gradviz.GradState(history.state[0, history.index("enc.weight")]) is gradviz.GradState.none
    assert gradviz.GradState(history.state[0, history.index("head.weight")]) is gradviz.GradState.finite


def test_watch_without_an_optimizer_is_a_usage_error(shell) -> None:
    run(shell, "del opt\n")
    result = run(shell, "%%gradviz --watch\nmodel(x).sum().backward()\n")
    assert not result.success and "name it" in str(result.error_in_exec)


def test_a_cell_that_raises_gets_the_note_and_the_trace_is_kept(shell) -> None:
    cell = "%%gradviz --name t\nh = model.enc(x).sigmoid()\nh.mul_(2)\nh.sum().backward()\n"
    result = run(shell, cell)
    assert not result.success
    notes = "\n".join(getattr(result.error_in_exec, "__notes__", []))
    assert f"In[{result.execution_count}]:3" in notes and "h.mul_(2)" in notes
    assert shell.user_ns["t"].verdicts["enc.weight"].cause is Cause.error


def test_bad_arguments_are_usage_errors(shell) -> None:
    for line in ("%%gradviz --every", "%%gradviz nosuchname", "%%gradviz x", "%%gradviz a b c"):
        result = run(shell, f"{line}\npass\n")
        assert not result.success, line
        assert type(result.error_in_exec).__name__ == "UsageError", line


def test_a_traced_cell_confirms_a_what_if_by_running_again_on_copies(shell) -> None:
    cell = "%%gradviz\nopt.zero_grad()\nh = model.enc(x)\nh = h.detach()\n"
    cell += "model.head(h).sum().backward()\nopt.step()\n"
    result = run(shell, cell)
    assert result.success
    t, ns = result.result, shell.user_ns
    weights = {n: p.detach().clone() for n, p in ns["model"].named_parameters()}
    grads = {n: p.grad.clone() if p.grad is not None else None for n, p in ns["model"].named_parameters()}
    h = ns["h"]
    what = t.without("enc.weight", confirm=True)
    # plain torch, the cut really removed, on a copy
    plain = copy.deepcopy(ns["model"])
    plain.zero_grad(set_to_none=True)
    plain.head(plain.enc(ns["x"])).sum().backward()
    reached = {n for n, p in plain.named_parameters() if p.grad is not None and n.startswith("enc")}
    assert what.confirmed is not None and what.agrees and set(what.confirmed_reached or []) == reached
    # the user's model, gradients, optimizer and globals are as they were
    for n, p in ns["model"].named_parameters():
        assert torch.equal(p, weights[n]) and (p.grad is None) == (grads[n] is None)
    assert ns["h"] is h  # the cell's assignments went to a copy of the globals


def test_without_confirm_on_a_trace_that_has_no_step_says_what_to_pass() -> None:
    model = torch.nn.Linear(3, 1)
    with gradviz.trace(model) as t:  # a trace outside %%gradviz: no cell to run again
        h = model(torch.randn(2, 3)).detach()
        (h * model.weight.sum()).sum().backward()
    cut = next(c.index for c in t.capture.cuts if c.group == c.index)
    with pytest.raises(ValueError, match="model= and step="):
        t.without(cut, confirm=True)
