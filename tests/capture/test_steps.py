"""backward(); step(); zero_grad() inside one trace: the step read the gradient before zero_grad removed it,
so it was used, not lost (issue 19: "the fused-away step"). Truth from plain torch: the weights changed."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import gradviz

_OPT = {
    "SGD": lambda p: torch.optim.SGD(p, lr=0.1),
    "Adam": lambda p: torch.optim.Adam(p, lr=0.1),
    "LBFGS": lambda p: torch.optim.LBFGS(p, lr=0.1, max_iter=2),
}


def _step(order: str, model: nn.Module, opt, x: torch.Tensor) -> None:
    def closure():
        opt.zero_grad()
        loss = model(x).sum()
        loss.backward()
        return loss

    if isinstance(opt, torch.optim.LBFGS):
        opt.step(closure)
        if order == "step, then zero_grad":
            opt.zero_grad()
        return
    model(x).sum().backward()
    if order == "step, then zero_grad":
        opt.step()
        opt.zero_grad()
    else:  # the bug: the gradient is gone before the step
        opt.zero_grad()
        opt.step()


_CASES = [
    (order, optimizer)
    for order in ("step, then zero_grad", "zero_grad, then step")
    for optimizer in _OPT
    if not (optimizer == "LBFGS" and order == "zero_grad, then step")  # LBFGS computes it inside step()
]


@pytest.mark.parametrize(("order", "optimizer"), _CASES)
def test_a_gradient_the_step_read_is_not_said_to_be_removed_before_it_was_read(
    order: str, optimizer: str
) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    model = nn.Linear(4, 1)
    twin = copy.deepcopy(model)
    before = twin.weight.detach().clone()
    _step(order, twin, _OPT[optimizer](twin.parameters()), x)
    changed = not torch.equal(before, twin.weight)  # plain torch: did the step use a gradient?
    opt = _OPT[optimizer](model.parameters())
    with gradviz.trace(model, optimizer=opt) as t:
        _step(order, model, opt, x)
    causes = {v.cause.value for v in t.verdicts.values()}
    assert causes == ({"ok"} if changed else {"cleared"})
    assert changed == (order == "step, then zero_grad")


@pytest.mark.parametrize("how", ["two losses", "retain_graph", "helper"])
def test_gradients_of_several_backwards_that_cancel_in_grad_are_zero(how: str) -> None:
    """Non-zero gradients from two backwards, accumulated in .grad, sum to exactly zero: the verdict is
    what .grad holds (zero, they cancel), not 'finite, not in the optimizer' read from each backward alone.
    Found by the fuzzer (seed 123457, program 7220)."""

    def flip(loss):
        return -loss

    def step(model: nn.Linear, x: torch.Tensor) -> None:
        if how == "two losses":
            model(x).sum().backward()
            (-model(x).sum()).backward()
        elif how == "retain_graph":
            out = model(x).sum()
            out.backward(retain_graph=True)
            (-out).backward()
        else:
            model(x).sum().backward()
            flip(model(x).sum()).backward()

    torch.manual_seed(0)
    x = torch.tensor([[1.0, 2.0, 0.5, 0.25]])  # values that add and subtract exactly in float32
    model = nn.Linear(4, 1)
    twin = copy.deepcopy(model)
    step(twin, x)
    assert torch.count_nonzero(twin.weight.grad) == 0  # plain torch: .grad is exactly zero
    with gradviz.trace(model, optimizer=torch.optim.SGD([model.bias], lr=0.1)) as t:
        step(model, x)
    v = t.verdicts["weight"]
    assert (
        v.cause == "zero" and "add up to exactly zero" in v.message and "no optimizer holds it" in v.message
    )
