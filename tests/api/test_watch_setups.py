"""gradviz.watch in the setups that broke it (issue 18): optimizers that take a closure (LBFGS, a two-pass
SAM step), copies and saves of a watched model (deepcopy, pickle, torch.save, an EMA), torch.compile.

Every recorded row is checked against plain torch: the same training on a deep copy without gradviz,
whose closure is wrapped here to read the gradients of each evaluation.
"""

from __future__ import annotations

import copy
import gc
import io
import json
import pickle
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as nn_module

import gradviz
from gradviz.records import GradState

Grads = dict[str, torch.Tensor | None]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.fc(x)))


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(step)
    return torch.randn(6, 4, generator=g), torch.randn(6, 2, generator=g)


def _loss(model: nn.Module, step: int) -> torch.Tensor:
    x, y = _batch(step)
    return F.mse_loss(model(x), y)


def _closure(model: nn.Module, opt: torch.optim.Optimizer, step: int) -> Callable[[], torch.Tensor]:
    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = _loss(model, step)
        loss.backward()
        return loss

    return closure


def _grads(model: nn.Module) -> Grads:
    return {n: None if p.grad is None else p.grad.detach().clone() for n, p in model.named_parameters()}


def _reading(model: nn.Module, closure: Callable[[], torch.Tensor], seen: list[Grads]):
    """``closure``, appending the gradients each evaluation leaves to ``seen`` (the plain-torch truth)."""

    def evaluate() -> torch.Tensor:
        loss = closure()
        seen.append(_grads(model))
        return loss

    return evaluate


def _state(g: torch.Tensor | None) -> GradState:
    if g is None:
        return GradState.none
    if not torch.isfinite(g).all():
        return GradState.nonfinite
    return GradState.zero if not g.any() else GradState.finite


def _assert_row(h: gradviz.History, row: int, grads: Grads) -> None:
    assert h.names == list(grads)
    expect = [np.nan if g is None else torch.linalg.vector_norm(g).item() for g in grads.values()]
    np.testing.assert_allclose(h.grad_norm[row], np.float32(expect), rtol=1e-5, equal_nan=True)
    assert h.state[row].tolist() == [_state(g) for g in grads.values()]


def _assert_same_training(plain: nn.Module, watched: nn.Module) -> None:
    """Bitwise: the weights and the gradients left in .grad."""
    for (name, p), q in zip(plain.named_parameters(), watched.parameters(), strict=True):
        assert torch.equal(p, q), name
        assert (p.grad is None and q.grad is None) or torch.equal(p.grad, q.grad), name


def _run_closure_steps(
    make: Callable[[nn.Module], torch.optim.Optimizer], steps: int, **watch_kwargs
) -> tuple[gradviz.Monitor, list[list[Grads]], list[tuple[Grads, Grads]]]:
    """Train a model with ``make``'s optimizer and ``opt.step(closure)`` under watch, and a deep copy of it
    without gradviz in lockstep. Returns the monitor, the plain copy's gradients after each evaluation of
    each step, and its weights before and after each step."""
    torch.manual_seed(0)
    watched = Net()
    plain = copy.deepcopy(watched)
    opt, plain_opt = make(watched), make(plain)
    evaluations: list[list[Grads]] = []
    weights: list[tuple[Grads, Grads]] = []
    with gradviz.watch(watched, optimizer=opt, **watch_kwargs) as mon:
        for step in range(steps):
            seen: list[Grads] = []
            before = {n: p.detach().clone() for n, p in plain.named_parameters()}
            plain_opt.step(_reading(plain, _closure(plain, plain_opt, step), seen))
            opt.step(_closure(watched, opt, step))
            evaluations.append(seen)
            weights.append((before, {n: p.detach().clone() for n, p in plain.named_parameters()}))
            _assert_same_training(plain, watched)
    return mon, evaluations, weights


def _assert_weights(h: gradviz.History, row: int, before: Grads, after: Grads) -> None:
    w = [torch.linalg.vector_norm(b).item() for b in before.values()]
    ratio = [
        torch.linalg.vector_norm(a - b).item() / n
        for a, b, n in zip(after.values(), before.values(), w, strict=True)
    ]
    np.testing.assert_allclose(h.param_norm[row], np.float32(w), rtol=1e-5)
    np.testing.assert_allclose(h.update_ratio[row], np.float32(ratio), rtol=1e-3, atol=1e-9)


# -- closures ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_iter", [1, 4])
def test_lbfgs_rows_hold_the_gradients_of_the_last_closure_evaluation(max_iter: int) -> None:
    def make(m: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.LBFGS(m.parameters(), lr=0.5, max_iter=max_iter)

    mon, evaluations, weights = _run_closure_steps(make, steps=4, weights_every=1)
    h = mon.history
    np.testing.assert_array_equal(h.steps, [0, 1, 2, 3])
    assert (h.state == GradState.finite).all()  # step 0 too: no "no gradient" read before the closure ran
    for row, (seen, (before, after)) in enumerate(zip(evaluations, weights, strict=True)):
        assert len(seen) == max_iter
        _assert_row(h, row, seen[-1])
        _assert_weights(h, row, before, after)
    if max_iter > 1:  # the first evaluation is not what was recorded
        first = evaluations[0][0]["fc.weight"]
        assert first is not None
        assert h.grad_norm[0, 0] != pytest.approx(torch.linalg.vector_norm(first).item(), rel=1e-3)
    check = gradviz.ddp_check(mon)
    assert check.ok and not check.sometimes, check.report()  # no find_unused_parameters false alarm


class SAM(torch.optim.Optimizer):
    """Sharpness-aware minimisation (Foret et al. 2021) written out: the gradient at w finds the
    perturbation e, the gradient at w + e is what the base optimizer's step uses."""

    def __init__(self, params, lr: float = 0.1, rho: float = 0.05) -> None:
        super().__init__(params, {"lr": lr, "rho": rho})
        self.base = torch.optim.SGD(self.param_groups, lr=lr, momentum=0.9)

    @torch.no_grad()
    def step(self, closure):  # type: ignore[override]
        closure = torch.enable_grad()(closure)
        closure()  # first pass, at w
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.state[p]["e"] = e = p.grad * (group["rho"] / (norm + 1e-12))
                    p.add_(e)
        loss = closure()  # second pass, at w + e
        for group in self.param_groups:
            for p in group["params"]:
                if "e" in self.state[p]:
                    p.sub_(self.state[p]["e"])
        self.base.step()
        return loss


def test_a_two_pass_sam_step_records_the_gradient_its_base_step_used() -> None:
    # The row is the second pass's gradient (at w + e): the one the base step's update is made from.
    mon, evaluations, weights = _run_closure_steps(lambda m: SAM(m.parameters()), steps=3, weights_every=1)
    h = mon.history
    assert (h.state == GradState.finite).all()
    for row, (seen, (before, after)) in enumerate(zip(evaluations, weights, strict=True)):
        assert len(seen) == 2
        _assert_row(h, row, seen[1])
        _assert_weights(h, row, before, after)
        first = seen[0]["out.weight"]
        assert first is not None
        assert h.grad_norm[row, 2] != pytest.approx(torch.linalg.vector_norm(first).item(), rel=1e-4)
    assert gradviz.ddp_check(mon).ok


@pytest.mark.parametrize(
    ("make", "by_name"),
    [
        (lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9), False),
        (lambda m: torch.optim.Adam(m.parameters(), lr=0.01), True),
    ],
    ids=["sgd-positional", "adam-keyword"],
)
def test_any_optimizer_given_a_closure(make, by_name: bool) -> None:
    torch.manual_seed(0)
    watched = Net()
    plain = copy.deepcopy(watched)
    opt, plain_opt = make(watched), make(plain)
    expected = []
    with gradviz.watch(watched, optimizer=opt, every=2) as mon:
        for step in range(5):
            seen: list[Grads] = []
            plain_opt.step(_reading(plain, _closure(plain, plain_opt, step), seen))
            closure = _closure(watched, opt, step)
            opt.step(closure=closure) if by_name else opt.step(closure)
            expected.append(seen[-1])
            _assert_same_training(plain, watched)
    h = mon.history
    np.testing.assert_array_equal(h.steps, [0, 2, 4])
    for row, step in enumerate(h.steps):
        _assert_row(h, row, expected[step])


def test_a_closure_the_step_never_calls_records_the_gradients_it_was_given() -> None:
    class Ignoring(torch.optim.Optimizer):
        def __init__(self, params) -> None:
            super().__init__(params, {"lr": 0.1})

        @torch.no_grad()
        def step(self, closure=None):  # type: ignore[override]
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.sub_(group["lr"] * p.grad)

    model = Net()
    opt = Ignoring(model.parameters())
    calls = []
    with gradviz.watch(model, optimizer=opt, weights_every=1) as mon:
        _loss(model, 0).backward()
        given = _grads(model)
        opt.step(lambda: calls.append(1))
    assert not calls
    _assert_row(mon.history, 0, given)
    assert not np.isnan(mon.history.update_ratio[0]).any()


def test_a_closure_that_raises_keeps_the_gradients_it_computed() -> None:
    model = Net()
    opt = torch.optim.LBFGS(model.parameters(), max_iter=1)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        _loss(model, 0).backward()
        raise FloatingPointError("loss went bad")

    with pytest.raises(FloatingPointError), gradviz.watch(model, optimizer=opt) as mon:
        opt.step(closure)
    assert mon.steps_seen == 1
    _assert_row(mon.history, 0, _grads(model))


# -- copies and saves -------------------------------------------------------------------------------------


def _torch_save(model: nn.Module) -> nn.Module:
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


COPIES: dict[str, Callable[[nn.Module], nn.Module]] = {
    "deepcopy": copy.deepcopy,
    "pickle": lambda m: pickle.loads(pickle.dumps(m)),
    "torch.save": _torch_save,
}


def _gradviz_free(model: nn.Module) -> None:
    """No hook of any kind on the modules or parameters, and nothing of gradviz's in the pickle."""
    for name, m in model.named_modules():
        for attr in (
            "_forward_hooks",
            "_forward_pre_hooks",
            "_backward_hooks",
            "_backward_pre_hooks",
            "_state_dict_hooks",
            "_load_state_dict_pre_hooks",
        ):
            assert not getattr(m, attr), (name, attr)
    for name, p in model.named_parameters():
        assert not p._backward_hooks and not getattr(p, "_post_accumulate_grad_hooks", None), name
    assert b"gradviz" not in pickle.dumps(model)


@pytest.mark.parametrize("when", ["after watch()", "after a forward", "mid-training"])
@pytest.mark.parametrize("how", list(COPIES))
def test_a_watched_model_copies_and_saves_without_gradviz(how: str, when: str) -> None:
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt) as mon:
        pending = None
        if when == "after a forward":
            pending = _loss(model, 0)  # its backward comes after the copy
        elif when == "mid-training":
            for step in range(2):
                opt.zero_grad()
                _loss(model, step).backward()
                opt.step()
        _gradviz_free(model)
        clone = COPIES[how](model)
        _gradviz_free(clone)
        rows, seen, graph = len(mon.history), mon.steps_seen, mon.graph
        # the copy is not watched: training it records nothing, and its graph is not the monitor's
        clone_opt = torch.optim.SGD(clone.parameters(), lr=0.1)
        for step in range(2):
            clone_opt.zero_grad()
            _loss(clone, step).backward()
            clone_opt.step()
        assert (len(mon.history), mon.steps_seen, mon.graph) == (rows, seen, graph)
        # the original still records
        opt.zero_grad()
        (pending if pending is not None else _loss(model, 5)).backward()
        opt.step()
        assert len(mon.history) == rows + 1 and mon.steps_seen == seen + 1
        assert mon.graph is not None


def _train_with_emas(ema_at: tuple[int, ...]) -> gradviz.Monitor:
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    emas: list[nn.Module] = []
    with gradviz.watch(model, optimizer=opt, weights_every=2) as mon:
        for step in range(6):
            if step in ema_at:
                emas.append(copy.deepcopy(model))
            for ema in emas:  # an EMA evaluated (with grad on) before the step, as a validation would
                _loss(ema, step)
            opt.zero_grad()
            _loss(model, step).backward()
            opt.step()
            with torch.no_grad():
                for ema in emas:
                    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
                        e.lerp_(p, 0.1)
    return mon


def test_an_ema_copy_updated_every_step_leaves_the_records_unchanged() -> None:
    alone = _train_with_emas(())
    with_ema = _train_with_emas((0, 3))  # one copied right after watch(), one mid-training
    a, b = alone.history, with_ema.history
    assert len(a) == 6 and a.names == b.names
    for key in ("steps", "grad_norm", "param_norm", "update_ratio", "state"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)
    assert alone.graph is not None and with_ema.graph is not None
    assert json.dumps(alone.graph[0], sort_keys=True) == json.dumps(with_ema.graph[0], sort_keys=True)
    assert alone.graph[1:] == with_ema.graph[1:]


def test_the_forward_hook_is_process_wide_and_lives_until_the_first_backward() -> None:
    hooks = nn_module._global_forward_hooks
    before = len(hooks)
    a, b = Net(), Net()
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1)
    mon_a = gradviz.watch(a, optimizer=opt_a)
    mon_b = gradviz.watch(b)
    assert len(hooks) == before + 1 and not a._forward_hooks and not b._forward_hooks  # one, for both
    _loss(a, 0).backward()
    assert len(hooks) == before + 1 and mon_a.graph is not None  # b still waits for its first backward
    mon_b.close()
    assert len(hooks) == before
    mon_a.close()
    # a monitor dropped without close() lets go of it too
    mon = gradviz.watch(b)
    assert len(hooks) == before + 1
    del mon
    gc.collect()
    assert len(hooks) == before


# -- torch.compile ----------------------------------------------------------------------------------------


def test_a_compiled_model_is_watched_under_its_own_names() -> None:
    from torch._dynamo.utils import counters

    torch.manual_seed(0)
    model = Net()
    compiled = torch.compile(model, backend="eager")
    opt = torch.optim.SGD(compiled.parameters(), lr=0.1)
    hooks = len(nn_module._global_forward_hooks)
    with gradviz.watch(compiled, optimizer=opt, weights_every=1) as mon:
        # no process-wide hook: torch.compile would warn on every call (warnings are errors here)
        assert len(nn_module._global_forward_hooks) == hooks
        expected, compiles = [], []
        for step in range(3):
            opt.zero_grad()
            _loss(compiled, step).backward()
            expected.append(_grads(model))
            opt.step()
            compiles.append(counters["frames"]["total"])
    assert compiles[0] == compiles[-1]  # nothing of gradviz's made dynamo compile again after step 0
    names = [n for n, _ in model.named_parameters()]
    assert mon.history.names == names == ["fc.weight", "fc.bias", "out.weight", "out.bias"]
    assert mon.model_name == "Net"
    for row, grads in enumerate(expected):
        _assert_row(mon.history, row, grads)
    assert mon.graph is not None
    with gradviz.watch(compiled, optimizer=opt, params=["fc.weight"]) as mon:
        opt.zero_grad()
        _loss(compiled, 2).backward()
        opt.step()
    assert mon.history.names == ["fc.weight"] and mon.history.state[0, 0] == GradState.finite
    with pytest.raises(ValueError, match=r"'_orig_mod\.fc\.weight' \(did you mean 'fc\.weight'"):
        gradviz.watch(compiled, params=["_orig_mod.fc.weight"])
    _gradviz_free(copy.deepcopy(compiled))


def test_a_model_holding_a_compiled_part_is_heard_through_its_own_hook() -> None:
    from torch._dynamo.utils import counters

    torch.manual_seed(0)
    model = Net()
    model.fc = torch.compile(model.fc, backend="eager")  # type: ignore[assignment]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hooks = len(nn_module._global_forward_hooks)
    with gradviz.watch(model, optimizer=opt) as mon:
        assert len(nn_module._global_forward_hooks) == hooks and len(model._forward_hooks) == 1
        clone = copy.deepcopy(model)  # carries the inert hook (NOTE [hooks on the model]): not watched
        clone_opt = torch.optim.SGD(clone.parameters(), lr=0.1)
        clone_opt.zero_grad()
        _loss(clone, 0).backward()
        clone_opt.step()
        assert mon.graph is None and mon.steps_seen == 0
        compiles = []
        for step in range(3):
            opt.zero_grad()
            _loss(model, step).backward()
            opt.step()
            compiles.append(counters["frames"]["total"])
        assert mon.graph is not None and not model._forward_hooks
    assert compiles[0] == compiles[-1]
    assert (mon.history.state == GradState.finite).all()


def test_a_model_compiled_after_watch_is_still_heard() -> None:
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    expected = []
    with gradviz.watch(model, optimizer=opt) as mon:
        compiled = torch.compile(model, backend="eager")  # no warning about gradviz's process-wide hook
        for step in range(2):
            opt.zero_grad()
            _loss(compiled, step).backward()
            expected.append(_grads(model))
            opt.step()
    assert mon.graph is not None  # heard through the compiled wrapper's forward
    for row, grads in enumerate(expected):
        _assert_row(mon.history, row, grads)
