"""Gradient paths read from a TorchScript graph (NOTE [gradient paths through TorchScript]), checked against
what autograd delivers: for each scripted (or traced) module, each output and each input, the analysis
says a gradient flows back exactly when ``torch.autograd.grad`` returns one for that input."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import gradviz
from gradviz.capture._script_paths import script_paths


def _scripted(module: nn.Module) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; models still use it
        warnings.simplefilter("ignore")
        return torch.jit.script(module)


class Cuts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, h, g) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            z = h * 2
        a = self.lin(h).detach()
        y = g.data
        w = self.lin(g) if bool(h.sum() > 0) else g  # a prim::If in the graph
        for _ in range(3):
            w = w + 1
        k = (h > 0).float()
        return a + z + y, w * k


class Indices(nn.Module):
    def forward(self, h):
        v, i = torch.max(h, dim=1)
        return v, i.float(), h.argmax(dim=1).to(torch.float32), h.sort(dim=1)[0]


class Loop(nn.Module):
    def forward(self, h, g):
        acc = torch.zeros_like(h)
        for _ in range(2):
            acc = acc + g  # g reaches acc only through the loop's carried value
        return acc, h.detach() + 1


class Nested(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = _scripted(Loop())

    def forward(self, h, g):
        a, b = self.inner(g, h)
        return torch.cat([a, b], dim=1)


class GradSwitch(nn.Module):
    def forward(self, h, g):
        torch.set_grad_enabled(False)
        x = h * 3
        torch.set_grad_enabled(True)
        return x + g


def _traced(module: nn.Module, *example: torch.Tensor) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.trace(module, example)


def _torch_paths(module, inputs) -> list[frozenset[int]]:
    """Per output tensor: the inputs autograd delivers a gradient to (the truth)."""
    leaves = [x.detach().clone().requires_grad_(True) for x in inputs]
    torch.manual_seed(0)
    out = module(*leaves)
    outs = list(out) if isinstance(out, tuple) else [out]
    found = []
    for o in outs:
        if not o.requires_grad:
            found.append(frozenset())
            continue
        grads = torch.autograd.grad(o.sum(), leaves, allow_unused=True, retain_graph=True)
        found.append(frozenset(i for i, g in enumerate(grads) if g is not None))
    return found


def _h() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.rand(3, 4) + 0.1  # positive: Cuts takes its first branch


CASES = {
    "no_grad, detach, .data, if, loop, comparison, tuple": lambda: (_scripted(Cuts()), (_h(), _h())),
    "max / sort indices, argmax, casts": lambda: (_scripted(Indices()), (_h(),)),
    "loop-carried values, detach": lambda: (_scripted(Loop()), (_h(), _h())),
    "a scripted module inside a scripted module": lambda: (_scripted(Nested()), (_h(), _h())),
    "set_grad_enabled": lambda: (_scripted(GradSwitch()), (_h(), _h())),
    "torch.jit.trace": lambda: (_traced(Loop(), _h(), _h()), (_h(), _h())),
    "a traced sequential": lambda: (_traced(nn.Sequential(nn.Linear(4, 4), nn.Tanh()), _h()), (_h(),)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_paths_read_from_the_graph_are_the_ones_autograd_takes(case) -> None:
    module, inputs = CASES[case]()
    found = script_paths(module, grad_on=True)
    assert found is not None
    assert [grads for grads, _ in found] == _torch_paths(module, inputs)
    for grads, values in found:
        assert grads <= values


def test_under_no_grad_nothing_passes() -> None:
    module = _scripted(Cuts())
    found = script_paths(module, grad_on=False)
    assert found is not None and all(not grads for grads, _ in found)
    assert any(values for _, values in found)


@torch.library.custom_op("gradviz_test::twice", mutates_args=())
def _twice(x: torch.Tensor) -> torch.Tensor:
    return x * 2


class Custom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))

    def forward(self, h):
        return torch.ops.gradviz_test.twice(h) * self.scale


def test_an_op_it_does_not_know_gives_no_answer() -> None:
    assert script_paths(_scripted(Custom()), grad_on=True) is None


class Net(nn.Module):
    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.pre = nn.Linear(4, 4)
        self.block = _scripted(block)

    def forward(self, x):
        return self.block(self.pre(x).detach())


def test_the_what_if_through_an_unknown_op_says_it_does_not_know() -> None:
    model = Net(Custom())
    with gradviz.trace(model) as t:
        model(torch.randn(2, 4)).sum().backward()
    cut = next(c for c in t.capture.cuts if c.group == c.index)
    what = t.without(cut.index)
    assert what.reached == []
    assert "not known" in what.still["pre.weight"] and "TorchScript module Custom" in what.still["pre.weight"]
