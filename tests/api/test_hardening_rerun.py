"""Re-running ``mon = gradviz.watch(model, optimizer=opt)`` without ``close()`` closes the one before."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import warnings
import weakref

import pytest
import torch
from torch import nn

import gradviz


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def _hooks(model: nn.Module, opt: torch.optim.Optimizer | None) -> int:
    count = len(model._forward_hooks) + len(model._forward_pre_hooks)
    if opt is not None:
        count += len(opt._optimizer_step_pre_hooks) + len(opt._optimizer_step_post_hooks)
    return count


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: int = 2) -> None:
    for _ in range(steps):
        opt.zero_grad()
        model(torch.randn(5, 4)).pow(2).mean().backward()
        opt.step()


def _watch(*args, **kwargs) -> tuple[gradviz.Monitor, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mon = gradviz.watch(*args, **kwargs)
    return mon, [str(w.message) for w in caught]


@pytest.mark.parametrize("shared", ["both", "model", "optimizer"])
def test_a_new_watch_closes_the_previous_one_with_a_notice(shared) -> None:
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    first, notes = _watch(model, optimizer=opt, weights_every=1)
    assert notes == []
    fresh = _hooks(model, opt)  # a forward hook until the first backward, and two step hooks
    old_model = model
    _train(model, opt)
    snapshots = [weakref.ref(t) for ts in first._recorder._snapshots.values() for t in ts]
    assert snapshots  # weights_every=1 keeps a copy of the weights between steps

    if shared == "model":  # a new optimizer for the same model (the cell builds both)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
    elif shared == "optimizer":  # the same optimizer, on a model rebuilt around the same parameters
        rebuilt = nn.Sequential(*model)
        model = rebuilt
    second, notes = _watch(model, optimizer=opt, weights_every=1)
    assert len(notes) == 1 and "\n" not in notes[0], notes
    assert notes[0].startswith("gradviz.watch closed the previous monitor of this")
    assert "2 steps recorded" in notes[0]
    assert first.closed and not second.closed and first._recorder is None
    gc.collect()
    assert all(ref() is None for ref in snapshots), "the old monitor's weight snapshot is still alive"
    assert _hooks(model, opt) == fresh  # the new monitor's hooks only
    if shared == "optimizer":
        assert _hooks(old_model, None) == 0
    _train(model, opt, steps=3)
    assert len(first.history) == 2 and len(second.history) == 3  # the old one stopped; its rows remain
    second.close()
    assert _hooks(model, opt) == 0


def test_monitors_of_other_models_or_closed_ones_are_left_alone() -> None:
    a, b = _model(), _model()
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1)
    mon_a, notes_a = _watch(a, optimizer=opt_a)
    mon_b, notes_b = _watch(b, optimizer=opt_b)
    assert notes_a == notes_b == [] and not mon_a.closed and not mon_b.closed
    mon_a.close()
    again, notes = _watch(a, optimizer=opt_a)
    assert notes == [] and not again.closed and not mon_b.closed
    inner, notes = _watch(b)
    with inner:  # the with-block pattern still works
        pass
    assert len(notes) == 1 and "model Sequential" in notes[0]
    assert inner.closed and mon_b.closed  # watching b again replaced mon_b
    again.close()


def test_a_watch_that_fails_its_checks_keeps_the_previous_one() -> None:
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mon, _ = _watch(model, optimizer=opt)
    with pytest.raises(ValueError, match="no parameter named"):
        gradviz.watch(model, optimizer=opt, params=["nope"])
    assert not mon.closed
    mon.close()


_CELLS = textwrap.dedent(
    """
    import gc, json, resource, sys, warnings
    import torch
    import gradviz

    def rss():  # current resident memory, MB
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 1e6

    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(1024, 1024) for _ in range(12)])  # 50 MB of weights
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(8, 1024)
    sizes = []
    for run in range(int(sys.argv[1])):  # the cell `mon = gradviz.watch(...)` + a few steps, run again
        mon = gradviz.watch(model, optimizer=opt, weights_every=1)
        for _ in range(2):
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
        gc.collect()
        sizes.append(rss())
    hooks = len(opt._optimizer_step_pre_hooks) + len(opt._optimizer_step_post_hooks)
    print(json.dumps({"rss": sizes, "hooks": hooks, "mb": 12 * 1024 * 1025 * 4 / 1e6}))
    """
)


@pytest.mark.slow
def test_running_the_cell_again_does_not_grow_memory() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CELLS, "6"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"},  # freed tensors leave RSS at once
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert measured["hooks"] == 2  # one pre-step and one post-step hook: the last monitor's
    rss, mb = measured["rss"], measured["mb"]
    # without the fix each run keeps one more snapshot of the weights: +50 MB a run, 250 MB in all
    assert rss[-1] - rss[0] < mb and rss[-1] - rss[1] < 0.5 * mb, measured
