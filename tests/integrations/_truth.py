"""Plain-torch truth for the integration tests: what .grad really holds, read without gradviz."""

from __future__ import annotations

import torch
from torch import nn

from gradviz import Cause


def grad_state(p: torch.Tensor) -> str:
    """none / zero / finite / nonfinite, read from ``p.grad`` with plain torch."""
    g = p.grad
    if g is None:
        return "none"
    if not torch.isfinite(g).all():
        return "nonfinite"
    return "zero" if bool((g == 0).all()) else "finite"


def read_grads(model: nn.Module) -> dict[str, tuple[str, float]]:
    """{name: (state, float32 L2 norm or nan)} of every parameter, now."""
    out = {}
    for name, p in model.named_parameters():
        state = grad_state(p)
        norm = float(p.grad.detach().float().norm()) if state in ("zero", "finite") else float("nan")
        out[name] = (state, norm)
    return out


def expected_cause(p: torch.Tensor, in_optimizer: bool) -> Cause | None:
    """The cause plain torch proves for one parameter after a step, where it proves one (None: it cannot
    tell which cut gave a None gradient)."""
    state = grad_state(p)
    if not p.requires_grad:
        return Cause.frozen if state == "none" else None
    if state == "none":
        return None
    if state == "nonfinite":
        return Cause.nonfinite
    if state == "zero":
        return Cause.zero
    return Cause.ok if in_optimizer else Cause.not_in_optimizer


def optimizer_ids(optimizers) -> set[int]:
    return {id(p) for opt in optimizers for g in opt.param_groups for p in g["params"]}
