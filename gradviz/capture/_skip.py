"""``watch(..., on_nonfinite="skip")``: a step whose gradients hold NaN/Inf changes no weight.

# NOTE [skipping a poisoned step]
# GradScaler skips optimizer.step() when a gradient is not finite. A step hook cannot cancel the step,
# but every torch optimizer leaves a parameter without a gradient alone (no update, no weight decay, no
# state change such as Adam's step count): so the gradients are set to None just before the update, after
# the monitor recorded them. The check is the largest magnitude of each gradient (``ord=inf``): finite for
# every finite gradient whatever its size (a 2-norm can overflow), NaN or Inf otherwise; one host read per
# device per step. A closure step (LBFGS) computes its gradients inside step(): it is not skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["clear_if_nonfinite"]


def clear_if_nonfinite(params: Sequence[torch.Tensor]) -> bool:
    """Set every ``.grad`` of ``params`` to None if any of them holds a NaN/Inf; whether it did."""
    by_device: dict[torch.device, list[torch.Tensor]] = {}
    for p in params:
        if p.grad is not None:
            by_device.setdefault(p.grad.device, []).append(p.grad)
    bad = False
    with torch.no_grad():
        for grads in by_device.values():
            peaks = torch._foreach_norm(grads, float("inf"))
            if not bool(torch.isfinite(torch.stack([x.float() for x in peaks])).all()):
                bad = True
                break
    if bad:
        for p in params:
            p.grad = None
    return bad
