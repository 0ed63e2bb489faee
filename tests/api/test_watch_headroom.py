"""Precision headroom in ``watch`` (NOTE [precision headroom] in gradviz/capture/_headroom.py).

Truth from plain torch on a copy of the same model and steps: the step at which a gradient first holds an
Inf, each gradient's largest magnitude, the fraction of values below the dtype's smallest normal."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

import gradviz


def _model(dtype: torch.dtype) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1)).to(dtype)


def _run(model: nn.Module, steps: int, growth: float, dtype: torch.dtype, on_step=None) -> int | None:
    """A loss scaled by ``growth ** step`` (a gradient that climbs toward the limit, as an unstable run's
    does); the first step whose gradient held an Inf in plain torch."""
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1)).to(dtype)
    first = None
    for step in range(steps):
        opt.zero_grad()
        (model(x).float().sum() * growth**step).to(dtype).backward()
        if first is None and any(not torch.isfinite(p.grad).all() for p in model.parameters()):
            first = step
        if on_step is not None:
            on_step(step, model)
        opt.step()
    return first


@pytest.mark.parametrize("growth", [1.3, 1.6])
def test_a_float16_gradient_heading_for_overflow_is_flagged_ten_steps_before(growth: float) -> None:
    plain = _model(torch.float16)
    model = copy.deepcopy(plain)
    first_inf: dict[str, int] = {}  # plain torch: the step each gradient first held an Inf

    def truth(step: int, m: nn.Module) -> None:
        for n, p in m.named_parameters():
            if n not in first_inf and not torch.isfinite(p.grad).all():
                first_inf[n] = step

    _run(plain, 60, growth, torch.float16, truth)
    assert first_inf  # it does overflow
    mon = gradviz.watch(model)

    def look(step: int, m: nn.Module) -> None:
        mon.step()
        if step == min(first_inf.values()) - 1:  # exact: the largest magnitude itself
            room = mon.headroom
            for n, p in m.named_parameters():
                assert room[n].exact and room[n].peak == pytest.approx(float(p.grad.abs().max()), rel=1e-3)

    _run(model, 60, growth, torch.float16, look)
    room = mon.headroom
    for name, step in first_inf.items():
        assert room[name].flagged_at is not None and room[name].flagged_at <= step - 10, (
            name,
            step,
            room[name],
        )
    mon.close()


def test_a_steady_float16_run_is_never_flagged_and_reports_its_underflow() -> None:
    model = _model(torch.float16)
    mon = gradviz.watch(model)
    tiny = torch.finfo(torch.float16).tiny
    truth: dict[str, float] = {}

    def look(step: int, m: nn.Module) -> None:
        truth.update({n: float((p.grad.abs() < tiny).float().mean()) for n, p in m.named_parameters()})
        mon.step()

    _run(model, 40, 1e-4 ** (1 / 40), torch.float16, look)  # shrinking: small values, no overflow
    room = mon.headroom
    assert room and not any(h.flagged for h in room.values())
    for n, h in room.items():
        assert h.underflow == pytest.approx(truth[n], abs=1e-6)
        assert h.weight_bits is not None and h.weight_bits > 0
    mon.close()


def test_float32_is_bounded_by_its_norm_and_flagged_only_near_its_limit() -> None:
    steady = _model(torch.float32)
    mon = gradviz.watch(steady)
    _run(steady, 30, 1.2, torch.float32, lambda s, m: mon.step())
    room = mon.headroom
    assert not any(h.flagged for h in room.values())  # 1.2 ** 30 is far from 3.4e38
    assert all(not h.exact and h.bits > 100 for h in room.values())
    mon.close()

    climbing = _model(torch.float32)
    plain = copy.deepcopy(climbing)
    first_inf = _run(plain, 40, 1e4, torch.float32)
    assert first_inf is not None
    mon = gradviz.watch(climbing)
    _run(climbing, first_inf, 1e4, torch.float32, lambda s, m: mon.step())
    flagged = [h for h in mon.headroom.values() if h.flagged]
    assert flagged and all(h.flagged_at < first_inf for h in flagged)
    assert all(math.isfinite(h.bits) for h in flagged) and "overflow " in flagged[0].text()
    mon.close()


def test_a_float16_gradient_that_is_large_but_steady_is_not_flagged() -> None:
    """Peaks around 100-400 (under 12 bits of headroom) that jump by 2x up and down from step to step:
    noise, not a climb toward 65504 (plain torch: no Inf in 200 steps)."""
    model = _model(torch.float16)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1)).half()
    noise = torch.rand(200, generator=torch.Generator().manual_seed(2)) * 1.5 + 0.5
    with gradviz.watch(model, opt) as mon:
        for step in range(200):
            opt.zero_grad()
            (model(x).float().sum() * 60 * float(noise[step])).half().backward()
            assert all(torch.isfinite(p.grad).all() for p in model.parameters())
            opt.step()
    room = mon.headroom
    assert min(h.bits for h in room.values()) < 12  # large enough to be watched
    assert not any(h.flagged for h in room.values()), {n: h for n, h in room.items() if h.flagged}


def test_a_gradient_that_stays_the_same_has_a_flat_trend_and_no_numpy_warning() -> None:
    model = _model(torch.float32)
    mon = gradviz.watch(model)
    _run(model, 12, 1.0, torch.float32, lambda s, m: mon.step())  # lr 0: the very same gradient each step
    room = mon.headroom
    assert all(h.trend == 0 and h.steps_left is None and not h.flagged for h in room.values())
    mon.close()


def test_the_words_count_steps_as_a_reader_would() -> None:
    from gradviz.records import overflow_words, short_number

    assert overflow_words(7.4) == "overflow in about 7 steps"
    assert overflow_words(1.2) == "overflow in about 1 step"
    assert overflow_words(0.4) == "overflow at the next step"
    assert short_number(54500.0) == "5.45e4" and short_number(65504.0, whole=True) == "65504"
