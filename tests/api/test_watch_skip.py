"""``watch(..., on_nonfinite="skip")``: a step whose gradients hold NaN/Inf changes no weight, as when the
user skips ``optimizer.step()`` by hand (GradScaler's rule). Truth: the same training in plain torch with
that manual skip, on a copy of the same model: weights and optimizer state bitwise equal."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import gradviz
from gradviz import GradState

BAD = (3, 7)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def _data(steps: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(5, 4, generator=g) for _ in range(steps)]
    for k in BAD:
        if k < steps:
            xs[k][0, 0] = float("nan")
    return xs


def _train(model, opt, xs, *, manual_skip: bool) -> None:
    for x in xs:
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        if manual_skip and any(not torch.isfinite(p.grad).all() for p in model.parameters()):
            continue
        opt.step()


OPTIMIZERS = {
    "sgd momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
    "adam foreach": lambda ps: torch.optim.Adam(ps, lr=1e-2, foreach=True),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("every", [1, 3])
def test_a_skipped_step_is_the_step_a_manual_skip_leaves_out(name: str, every: int) -> None:
    xs = _data(10)
    plain = _model()
    plain_opt = OPTIMIZERS[name](plain.parameters())
    _train(plain, plain_opt, xs, manual_skip=True)

    model = _model()
    opt = OPTIMIZERS[name](model.parameters())
    with gradviz.watch(model, opt, every=every, on_nonfinite="skip") as mon:
        _train(model, opt, xs, manual_skip=False)
    assert mon.skipped == list(BAD)
    for (n, p), q in zip(model.named_parameters(), plain.parameters(), strict=True):
        assert torch.equal(p, q), n
        mine, theirs = opt.state[p], plain_opt.state[q]
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine), n
    rows = mon.history.steps.tolist()
    for k in BAD:
        if k in rows:  # recorded: the row says what the gradient held before it was dropped
            assert (mon.history.state[rows.index(k)] == GradState.nonfinite).any()


def test_without_skip_the_nan_reaches_the_weights_as_in_plain_torch() -> None:
    xs = _data(6)
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, opt) as mon:
        _train(model, opt, xs, manual_skip=False)
    assert mon.skipped == [] and any(not torch.isfinite(p).all() for p in model.parameters())


def test_a_closure_step_is_not_skipped() -> None:
    model = _model()
    plain = copy.deepcopy(model)
    x = _data(4)[3]
    for m in (model, plain):
        opt = torch.optim.LBFGS(m.parameters(), max_iter=2)

        def closure(m=m, opt=opt):
            opt.zero_grad()
            loss = m(x).pow(2).mean()
            loss.backward()
            return loss

        if m is model:
            with gradviz.watch(m, opt, on_nonfinite="skip") as mon:
                opt.step(closure)
        else:
            opt.step(closure)
    assert mon.skipped == []
    for p, q in zip(model.parameters(), plain.parameters(), strict=True):
        assert torch.equal(p, q) or (p.isnan() == q.isnan()).all()


def test_bad_arguments_say_what_is_needed() -> None:
    model = _model()
    with pytest.raises(ValueError, match="needs the optimizer"):
        gradviz.watch(model, on_nonfinite="skip")
    with pytest.raises(ValueError, match='"record" or "skip"'):
        gradviz.watch(model, torch.optim.SGD(model.parameters(), lr=0.1), on_nonfinite="ignore")  # type: ignore[arg-type]
