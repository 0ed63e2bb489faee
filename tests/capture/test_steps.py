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
