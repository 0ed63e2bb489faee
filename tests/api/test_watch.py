"""gradviz.watch: per-step norms against a plain loop, gradient states, steps, hooks, numerics."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradviz
from gradviz import Monitor
from gradviz.records import GradState, History


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(4, 8)
        self.head = nn.Linear(8, 2)
        self.spare = nn.Linear(3, 3)  # never used: its .grad stays None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.enc(x)))


def _loss(model: nn.Module, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(6, 4, generator=g), torch.randn(6, 2, generator=g)
    return F.mse_loss(model(x), y)


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: int, micro: int = 1) -> list[dict]:
    """Train, returning per step what a plain per-parameter loop sees at the optimizer step."""
    seen = []
    for step in range(steps):
        opt.zero_grad()
        for m in range(micro):
            _loss(model, 100 * step + m).backward()
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        grads = {n: None if p.grad is None else p.grad.norm().item() for n, p in model.named_parameters()}
        opt.step()
        update = {n: (p.detach() - before[n]).norm().item() for n, p in model.named_parameters()}
        seen.append(
            {"grad": grads, "param": {n: w.norm().item() for n, w in before.items()}, "update": update}
        )
    return seen


def _hooks(model: nn.Module, opt: torch.optim.Optimizer | None = None) -> int:
    count = len(model._forward_hooks) + len(model._forward_pre_hooks)
    if opt is not None:
        count += len(opt._optimizer_step_pre_hooks) + len(opt._optimizer_step_post_hooks)
    return count


def test_public_api() -> None:
    assert gradviz.watch is not None and "watch" in gradviz.__all__ and "Monitor" in gradviz.__all__


def test_norms_match_a_plain_per_parameter_loop() -> None:
    model = Net()
    opt = torch.optim.AdamW(model.parameters(), lr=0.05)
    with gradviz.watch(model, optimizer=opt, weights_every=1) as mon:
        seen = _train(model, opt, steps=4)
    h = mon.history
    np.testing.assert_array_equal(h.steps, [0, 1, 2, 3])
    assert h.names == [n for n, _ in model.named_parameters()]
    for row, expect in enumerate(seen):
        for col, name in enumerate(h.names):
            g = expect["grad"][name]
            if g is None:
                assert h.state[row, col] == GradState.none and math.isnan(h.grad_norm[row, col])
                continue
            assert h.state[row, col] == GradState.finite
            assert h.grad_norm[row, col] == pytest.approx(g, rel=1e-5)
            assert h.param_norm[row, col] == pytest.approx(expect["param"][name], rel=1e-5)
            ratio = expect["update"][name] / expect["param"][name]
            assert h.update_ratio[row, col] == pytest.approx(ratio, rel=1e-3, abs=1e-9)
    assert h.first_nonfinite is None


def test_none_zero_nan_and_inf_gradients_stay_distinct() -> None:
    model = nn.ParameterDict(
        {k: nn.Parameter(torch.ones(3)) for k in ("ok", "none", "zero", "nan", "inf", "frozen")}
    )
    model["frozen"].requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    with gradviz.watch(model, optimizer=opt) as mon:
        for _ in range(2):
            opt.zero_grad()
            loss = (model["ok"] * 2).sum() + (model["zero"] * 0).sum() + (model["frozen"]).sum()
            loss = loss + (model["nan"] * float("nan")).sum() + (model["inf"] * float("inf")).sum()
            loss.backward()
            opt.step()
    h = mon.history
    state = dict(zip(h.names, h.state[0], strict=True))
    assert state == {
        "ok": GradState.finite,
        "none": GradState.none,
        "zero": GradState.zero,
        "nan": GradState.nonfinite,
        "inf": GradState.nonfinite,
        "frozen": GradState.none,
    }
    norm = dict(zip(h.names, h.grad_norm[0], strict=True))
    assert norm["ok"] == pytest.approx(2 * math.sqrt(3)) and norm["zero"] == 0
    assert math.isnan(norm["none"]) and math.isnan(norm["nan"]) and norm["inf"] == math.inf
    first_bad = next(n for n in h.names if n in ("nan", "inf"))  # the first in the model's order
    assert h.first_nonfinite == (0, first_bad)


def test_tiny_and_huge_finite_gradients_are_not_called_zero_or_nonfinite() -> None:
    # The sum of squares under- or overflows float32 here; the norm and the state must not.
    model = nn.ParameterDict({"tiny": nn.Parameter(torch.ones(4)), "huge": nn.Parameter(torch.ones(4))})
    mon = gradviz.watch(model)
    model["tiny"].grad = torch.full((4,), 1e-30)
    model["huge"].grad = torch.full((4,), 1e30)
    mon.step()
    mon.close()
    h = mon.history
    assert h.state[0].tolist() == [GradState.finite, GradState.finite]
    assert h.grad_norm[0, h.index("tiny")] == pytest.approx(2e-30, rel=1e-5)
    assert h.grad_norm[0, h.index("huge")] == pytest.approx(2e30, rel=1e-5)
    assert h.first_nonfinite is None


def test_accumulated_backward_passes_count_as_one_step() -> None:
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt) as mon:
        before = copy.deepcopy(model)
        seen = _train(model, opt, steps=3, micro=4)
    h = mon.history
    np.testing.assert_array_equal(h.steps, [0, 1, 2])  # steps, not backward passes
    col = h.index("enc.weight")
    for row, expect in enumerate(seen):  # the norm of the sum the optimizer used
        assert h.grad_norm[row, col] == pytest.approx(expect["grad"]["enc.weight"], rel=1e-5)
    _loss(before, 3).backward()  # the last micro-batch of step 0 alone: not what was recorded
    assert h.grad_norm[0, col] != pytest.approx(before.enc.weight.grad.norm().item(), rel=1e-3)


def test_parameters_changing_dtype_after_watch() -> None:
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt, weights_every=2) as mon:
        _train(model, opt, steps=1)
        model.double()
        for step in range(3):
            opt.zero_grad()
            model(torch.randn(6, 4, dtype=torch.float64)).sum().backward()
            expect = model.enc.weight.grad.norm().item()
            opt.step()
            assert mon.history.grad_norm[-1, 0] == pytest.approx(expect, rel=1e-5), step
    assert len(mon.history) == 4


def test_repr_pretty_summarises_the_last_step() -> None:
    pretty = pytest.importorskip("IPython.lib.pretty")
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt) as mon:
        _train(model, opt, steps=2)
    text = pretty.pretty(mon)
    assert "step 1: gradients 2 none, 4 finite" in text and "largest" in text


def test_every_records_only_every_nth_step_and_skips_the_work(monkeypatch) -> None:
    calls = []
    real = torch._foreach_norm
    monkeypatch.setattr(torch, "_foreach_norm", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt, every=3, weights_every=None) as mon:
        _train(model, opt, steps=10)
        assert not mon._recorder._snapshots  # no weights measured: no copy of the weights kept
    np.testing.assert_array_equal(mon.history.steps, [0, 3, 6, 9])
    assert len(calls) == 4  # one batched call per recorded step, none on the others
    assert mon.steps_seen == 10


def test_weights_are_measured_every_weights_every_recorded_step() -> None:
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt, every=2, weights_every=3) as mon:
        _train(model, opt, steps=14)
    h = mon.history
    np.testing.assert_array_equal(h.steps, np.arange(0, 14, 2))
    measured = ~np.isnan(h.param_norm[:, h.index("enc.weight")])
    assert h.steps[measured].tolist() == [0, 6, 12]
    assert (h.update_ratio[measured, h.index("enc.weight")] > 0).all()
    assert np.isnan(h.update_ratio[~measured]).all()
    assert not np.isnan(h.grad_norm[:, h.index("enc.weight")]).any()


def test_max_steps_bounds_memory() -> None:
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with gradviz.watch(model, optimizer=opt, max_steps=4) as mon:
        _train(model, opt, steps=21)
    h = mon.history
    assert len(h) <= 4 and mon._buffer._steps.shape[0] <= 4
    assert h.steps[0] == 0 and h.steps[-1] >= 16 and h.stride == 8


def test_parameters_not_in_the_optimizer_have_no_update_ratio() -> None:
    model = Net()
    opt = torch.optim.SGD(model.head.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt, weights_every=1) as mon:
        _train(model, opt, steps=2)
    h = mon.history
    assert np.isnan(h.update_ratio[:, h.index("enc.weight")]).all()
    assert not np.isnan(h.param_norm[:, h.index("enc.weight")]).any()
    assert (h.update_ratio[:, h.index("head.weight")] > 0).all()


def test_manual_steps_without_optimizer() -> None:
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # not given to watch: steps come from mon.step()
    reference = copy.deepcopy(model)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    seen = _train(reference, ref_opt, steps=3)
    with gradviz.watch(model, weights_every=1) as mon:
        for step in range(3):
            opt.zero_grad()
            _loss(model, 100 * step).backward()
            opt.step()
            mon.step()
    h = mon.history
    col = h.index("enc.weight")
    for row, expect in enumerate(seen):
        assert h.grad_norm[row, col] == pytest.approx(expect["grad"]["enc.weight"], rel=1e-5)
        assert h.param_norm[row, col] == pytest.approx(expect["param"]["enc.weight"], rel=1e-5)
        ratio = expect["update"]["enc.weight"] / expect["param"]["enc.weight"]
        assert h.update_ratio[row, col] == pytest.approx(ratio, rel=1e-3)


def test_step_is_refused_when_the_optimizer_marks_steps() -> None:
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt) as mon, pytest.raises(RuntimeError, match="step hooks"):
        mon.step()
    with pytest.raises(RuntimeError, match="closed"):
        mon.step()


def test_hooks_are_removed_by_close_and_by_with() -> None:
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mon = gradviz.watch(model, optimizer=opt)
    assert _hooks(model, opt) > 0
    mon.close()
    mon.close()  # twice is fine
    assert _hooks(model, opt) == 0 and mon.closed
    with gradviz.watch(model, optimizer=opt):
        assert _hooks(model, opt) > 0
    assert _hooks(model, opt) == 0


def test_hooks_are_removed_when_training_raises() -> None:
    class Exploding(torch.optim.SGD):
        def step(self, closure=None):  # type: ignore[override]
            raise RuntimeError("boom")

    model = Net()
    opt = Exploding(model.parameters(), lr=0.1)
    with (
        pytest.raises(RuntimeError, match="boom"),
        gradviz.watch(model, optimizer=opt, weights_every=1) as mon,
    ):
        _loss(model, 0).backward()
        opt.step()
    assert _hooks(model, opt) == 0
    h = mon.history  # the step that raised is still recorded, without an update
    np.testing.assert_array_equal(h.steps, [0])
    assert not np.isnan(h.grad_norm[0, 0]) and np.isnan(h.update_ratio[0]).all()


def test_first_backward_is_reported_once_and_not_after_close(monkeypatch) -> None:
    roots = []
    monkeypatch.setattr(Monitor, "_on_first_backward", lambda self, root: roots.append(root.name()))
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt) as mon:
        _train(model, opt, steps=3)
    assert roots == ["AddmmBackward0"]  # the model output's node: head's addmm
    assert mon.graph is None
    with gradviz.watch(model, optimizer=opt):
        loss = _loss(model, 0)  # forward inside, backward after close
    loss.backward()
    assert roots == ["AddmmBackward0"]


def test_numerics_are_unchanged() -> None:
    torch.manual_seed(1)
    plain = Net()
    watched = copy.deepcopy(plain)
    manual = copy.deepcopy(plain)
    opts = [torch.optim.AdamW(m.parameters(), lr=0.01, weight_decay=0.1) for m in (plain, watched, manual)]
    with (
        gradviz.watch(watched, optimizer=opts[1], weights_every=1),
        gradviz.watch(manual, weights_every=1) as mon,
    ):
        for step in range(5):
            for model, opt in zip((plain, watched, manual), opts, strict=True):
                opt.zero_grad()
                for m in range(2):
                    _loss(model, 10 * step + m).backward()
                opt.step()
            mon.step()
            for name, p in plain.named_parameters():
                for other in (watched, manual):
                    q = other.get_parameter(name)
                    assert torch.equal(p, q)
                    assert (p.grad is None and q.grad is None) or torch.equal(p.grad, q.grad)


def test_mixed_dtypes_and_sparse_gradients() -> None:
    model = nn.ModuleDict(
        {"a": nn.Linear(3, 3), "b": nn.Linear(3, 3).double(), "e": nn.Embedding(5, 3, sparse=True)}
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt, weights_every=1) as mon:
        for _ in range(2):
            opt.zero_grad()
            x = model["e"](torch.tensor([1, 2, 2]))
            (model["a"](x).sum() + model["b"](x.double()).sum()).backward()
            expect = [p.grad.to_dense().norm().item() for p in model.parameters()]
            opt.step()
    h = mon.history
    np.testing.assert_allclose(h.grad_norm[-1], expect, rtol=1e-5)
    assert (h.state == GradState.finite).all()


def test_params_by_name_or_filter() -> None:
    model = Net()
    with gradviz.watch(model, params=["head.bias", "enc.weight"]) as mon:
        pass
    assert mon.history.names == ["head.bias", "enc.weight"]
    with gradviz.watch(model, params=lambda name, p: p.ndim == 2) as mon:
        pass
    assert mon.history.names == ["enc.weight", "head.weight", "spare.weight"]


def test_errors_say_what_is_accepted() -> None:
    model = Net()
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        gradviz.watch(torch.randn(3))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"torch\.optim\.Optimizer"):
        gradviz.watch(model, optimizer="adam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"did you mean 'enc\.weight'"):
        gradviz.watch(model, params=["enc.wieght"])
    with pytest.raises(ValueError, match="selected none"):
        gradviz.watch(model, params=lambda name, p: False)
    with pytest.raises(ValueError, match="every must be an int >= 1"):
        gradviz.watch(model, every=0)
    with pytest.raises(ValueError, match="max_steps must be an int >= 2 or None"):
        gradviz.watch(model, max_steps=1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        gradviz.watch(model, log_freq=1)  # type: ignore[call-arg]
    assert _hooks(model) == 0


def test_history_saved_from_a_run_loads_in_a_notebook(tmp_path) -> None:
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt) as mon:
        _train(model, opt, steps=3)
    mon.history.save(tmp_path / "run.npz")
    back = History.load(tmp_path / "run.npz")
    np.testing.assert_array_equal(back.grad_norm, mon.history.grad_norm)
    np.testing.assert_array_equal(back.state, mon.history.state)


def test_repr_is_one_readable_line() -> None:
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt) as mon:
        _train(model, opt, steps=2)
    text = repr(mon)
    assert "6 parameters of Net with SGD" in text and "2 steps recorded of 2" in text and "closed" in text
