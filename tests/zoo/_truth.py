"""Ground truth from plain torch: what a backward delivered to each parameter, and bitwise comparison."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

State = Literal["none", "zero", "nonfinite", "finite"]


def grad_state(g: torch.Tensor | None) -> State:
    """none / zero (exactly zero everywhere) / nonfinite (some NaN or Inf) / finite (finite, not all zero)."""
    if g is None:
        return "none"
    if g.layout != torch.strided:
        g = g.coalesce().values() if g.is_sparse else g.to_dense()
    if not bool(torch.isfinite(g).all()):
        return "nonfinite"
    if not bool((g != 0).any()):
        return "zero"
    return "finite"


def exact_norm(g: torch.Tensor | None) -> float | None:
    """The L2 norm computed in float64 (no overflow for fp16, no underflow for tiny float32 values)."""
    if g is None:
        return None
    if g.layout != torch.strided:
        g = g.coalesce().values() if g.is_sparse else g.to_dense()
    return float(g.detach().double().norm())


@dataclass
class Truth:
    """Per parameter (names of ``model.named_parameters()``): the state of what one backward delivered."""

    state: dict[str, State]
    requires_grad: dict[str, bool]
    in_optimizer: dict[str, bool]
    norm: dict[str, float | None] = field(default_factory=dict)  # L2 norm in float64 (None: no gradient)
    before: dict[str, State] | None = None  # state of .grad before the step, when it held something

    @classmethod
    def read(cls, model: nn.Module, optimizer: torch.optim.Optimizer) -> Truth:
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        named = list(model.named_parameters())
        return cls(
            state={n: grad_state(p.grad) for n, p in named},
            requires_grad={n: p.requires_grad for n, p in named},
            in_optimizer={n: id(p) in held for n, p in named},
            norm={n: exact_norm(p.grad) for n, p in named},
        )

    def stale(self, name: str) -> bool:
        """``.grad`` held a tensor before the step although this backward delivered nothing."""
        return self.state[name] == "none" and self.before is not None and self.before[name] != "none"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.state.values():
            out[s] = out.get(s, 0) + 1
        return out


def same_bits(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    """Both None, or the same dtype, layout, shape and bytes (NaN payloads included)."""
    if a is None or b is None:
        return a is None and b is None
    if a.dtype != b.dtype or a.layout != b.layout or a.shape != b.shape:
        return False
    if a.is_sparse:
        a, b = a.coalesce(), b.coalesce()
        return same_bits(a.indices(), b.indices()) and same_bits(a.values(), b.values())
    if a.layout != torch.strided:
        return same_bits(a.to_dense(), b.to_dense())
    if a.numel() == 0:
        return True
    return torch.equal(
        a.detach().contiguous().view(-1).view(torch.uint8), b.detach().contiguous().view(-1).view(torch.uint8)
    )


def grad_differences(a: nn.Module, b: nn.Module) -> list[str]:
    """Names of the parameters whose ``.grad`` differs bitwise between two copies of a model."""
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    assert list(pa) == list(pb), "the copies do not have the same parameters"
    return [n for n in pa if not same_bits(pa[n].grad, pb[n].grad)]


def weight_differences(a: nn.Module, b: nn.Module) -> list[str]:
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    return [n for n in pa if not same_bits(pa[n].detach(), pb[n].detach())]
