"""Capture from the autograd graph alone, with no forward tracing: from a finished loss
(``gradviz.diagnose``) or from an autograd node during a backward (``gradviz.watch``'s first backward)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gradviz.capture import _graph, _targets
from gradviz.capture._records import Capture, Root
from gradviz.capture._session import _norms, read_final_state
from gradviz.capture._stats import sample


def capture_loss(
    loss: torch.Tensor, model: nn.Module | None, optimizer: torch.optim.Optimizer | None
) -> Capture:
    """Verdict input for ``gradviz.diagnose``: the graph of ``loss`` and each target's final gradient."""
    cap, watched = capture_graph(loss.grad_fn, model, optimizer)
    cap.roots[0].requires_grad, cap.roots[0].shape = loss.requires_grad, tuple(loss.shape)
    has_grads = any(w.tensor.is_leaf and w.tensor.grad is not None for w in watched)
    cap.backward_calls = 1 if has_grads else 0
    read_final_state(cap, watched, optimizer)
    for w in watched:
        if w.target.grad_norm is not None:
            w.target.grad_seen = w.target.grad_norm
    if not has_grads:
        cap.notes.append("No gradients yet: call loss.backward() before gradviz.diagnose to check them.")
    cap.notes.append("Graph only: run the forward inside gradviz.trace(...) to locate where a path was cut.")
    return cap


def capture_graph(
    root: Any, model: nn.Module | None, optimizer: torch.optim.Optimizer | None
) -> tuple[Capture, list[_targets.Watched]]:
    """The graph below autograd node ``root`` as plain data, with the model's parameters as targets
    (without a model: every leaf the graph reaches, named by its shape). Returns the live targets too,
    for the caller to read values from; it must drop them when done."""
    cap = Capture(source="graph")
    if model is not None:
        model = _targets.unwrap(model)
        watched = _targets.from_model(model)
        cap.modules = {n: type(m).__name__ for n, m in model.named_modules()}
        cap.model_name = type(model).__name__
    else:
        watched = []
    targets = {id(w.tensor): (w.tensor, w.target.index) for w in watched}
    leaves: list[tuple[str, torch.Tensor]] = []
    walk = _graph.walk([root], targets, None, hook_norms=False, leaves=leaves)
    if model is None:
        by_id = {n.id: n for n in walk.nodes}
        for node_id, tensor in leaves:
            w = _targets.discovered(len(watched), f"leaf{len(watched)}[{by_id[node_id].leaf_name}]", tensor)
            watched.append(w)
            by_id[node_id].target = w.target.index
            walk.reached |= w.target.bit
    cap.graph = walk.nodes
    cap.roots.append(Root(0, 0, (), True, None, walk.roots[0]))
    cap.targets = [w.target for w in watched]
    for node in walk.nodes:
        if node.target >= 0:
            cap.targets[node.target].node = node.id
    for w in watched:
        w.target.reached = bool(walk.reached & w.target.bit)
    return cap, watched


def read_values(watched: list[_targets.Watched]) -> None:
    """Fill each target's requires_grad and value summary (shape, dtype, device, statistics), without
    reading gradients: for a graph captured while backward is still running (``gradviz.watch``)."""
    tensors = [w.tensor for w in watched]
    for w, norm in zip(watched, _norms(tensors), strict=True):
        w.target.requires_grad = w.tensor.requires_grad
        w.target.value = sample(w.tensor, norm)
