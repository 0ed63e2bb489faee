"""``gradviz.diagnose``: verdicts from a finished loss's autograd graph alone, with no forward tracing."""

from __future__ import annotations

import torch
from torch import nn

from gradviz._args import check_optimizer
from gradviz._trace import Trace
from gradviz.capture import capture_loss


def diagnose(
    loss: torch.Tensor, model: nn.Module | None = None, optimizer: torch.optim.Optimizer | None = None
) -> Trace:
    """Verdicts for ``model``'s parameters from ``loss``'s autograd graph (before or after backward).

    Without a forward trace gradviz can tell frozen, unreached, unregistered, not-in-optimizer, zero and
    non-finite gradients, but not *where* a path was cut: run the forward inside :func:`gradviz.trace`
    for that.
    """
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"gradviz.diagnose: loss must be a tensor, got {type(loss).__name__}")
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"gradviz.diagnose: model must be an nn.Module or None, got {type(model).__name__}")
    check_optimizer("gradviz.diagnose", optimizer)
    return Trace._from_capture(capture_loss(loss, model, optimizer))
