"""NOTE [writes during a backward]: what gradviz wraps to see the writes a backward runs (module backward
hooks, the user's autograd.Function backward) is put back as it was, changes nothing a step computes, and
a fault in it never breaks the user's backward."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.modules.module as torch_module
from torch import nn

import gradviz
import gradviz.capture._backward_writes as backward_writes


class Double(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h):
        return h * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


class ByVjp(torch.autograd.Function):  # the other spelling torch accepts: vjp instead of backward
    @staticmethod
    def forward(ctx, h):
        return h * 3

    @staticmethod
    def vjp(ctx, grad):
        return grad * 3


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x):
        return self.b(ByVjp.apply(Double.apply(torch.tanh(self.a(x)))))


def _seen(log: list[str]):
    def hook(module, *args):
        log.append(type(module).__name__)

    return hook


def _step(model: nn.Module, traced: bool) -> dict[str, torch.Tensor]:
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    if traced:
        with gradviz.trace(model):
            model(x).pow(2).sum().backward()
    else:
        model(x).pow(2).sum().backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def test_hooks_and_functions_are_put_back_and_gradients_are_unchanged() -> None:
    torch.manual_seed(0)
    model = Net()
    log: list[str] = []
    full = model.a.register_full_backward_hook(_seen(log))
    pre = model.b.register_full_backward_pre_hook(_seen(log))
    glob = torch_module.register_module_full_backward_hook(_seen(log))
    try:
        hooks_before = (dict(model.a._backward_hooks), dict(model.b._backward_pre_hooks))
        global_before = dict(torch_module._global_backward_hooks)
        functions_before = (Double.__dict__["backward"], ByVjp.__dict__["vjp"], "backward" in ByVjp.__dict__)
        plain = copy.deepcopy(model)
        want = _step(plain, traced=False)
        plain_log = list(log)
        log.clear()
        got = _step(model, traced=True)
        assert log == plain_log  # every hook ran, once, in torch's order
        for name in want:
            assert torch.equal(want[name], got[name]), name
        assert (dict(model.a._backward_hooks), dict(model.b._backward_pre_hooks)) == hooks_before
        assert dict(torch_module._global_backward_hooks) == global_before
        assert (Double.__dict__["backward"], ByVjp.__dict__["vjp"], "backward" in ByVjp.__dict__) == (
            functions_before
        )
    finally:
        full.remove()
        pre.remove()
        glob.remove()


def test_a_hook_that_removes_itself_during_the_trace_stays_removed() -> None:
    torch.manual_seed(0)
    model = Net()
    handles = []

    def once(module, grad_input, grad_output):
        handles[0].remove()

    handles.append(model.a.register_full_backward_hook(once))
    with gradviz.trace(model):
        model(torch.randn(3, 4, requires_grad=True)).sum().backward()
    assert not model.a._backward_hooks


def test_a_fault_in_the_write_record_never_breaks_the_backward(monkeypatch) -> None:
    torch.manual_seed(0)
    model = Net()

    def decay(module, grad_input, grad_output):
        with torch.no_grad():
            module.bias.mul_(1.0)  # a write the record sees (harmless: the bias is saved by no op)

    model.a.register_full_backward_hook(decay)
    plain = copy.deepcopy(model)
    want = _step(plain, traced=False)

    def boom(self, name, args):
        raise KeyError("injected")

    monkeypatch.setattr(backward_writes.BackwardWrites, "_record", boom)
    with pytest.warns(RuntimeWarning, match="internal error in its backward write record"):
        got = _step(model, traced=True)
    for name in want:
        assert torch.equal(want[name], got[name]), name
    assert [h.__name__ for h in model.a._backward_hooks.values()] == ["decay"]  # put back after the fault
