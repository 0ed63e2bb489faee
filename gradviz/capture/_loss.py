"""Capture from the autograd graph alone, with no forward tracing: from a finished loss
(``gradviz.diagnose``) or from an autograd node during a backward (``gradviz.watch``'s first backward)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gradviz.capture import _graph, _targets
from gradviz.capture._locate import is_custom, locate_births, locate_blocks
from gradviz.capture._norms import norms_and_states
from gradviz.capture._scopes import scopes_of
from gradviz.capture._session import read_final_state
from gradviz.capture._stats import sample
from gradviz.records import Capture, GradState, Root


def capture_loss(
    loss: torch.Tensor, model: nn.Module | None, optimizer: torch.optim.Optimizer | None
) -> Capture:
    """Verdict input for ``gradviz.diagnose``: the graph of ``loss`` and each target's final gradient.

    Without watching the backward, what it delivered is inferred: a target the loss's graph reaches is
    taken to hold this loss's gradient; one it does not reach holds, if anything, a gradient from an
    earlier backward (``grad_before``), which this loss did not produce.
    """
    cap, watched = capture_graph(loss.grad_fn, model, optimizer)
    root = cap.roots[0]
    root.requires_grad, root.shape = loss.requires_grad, tuple(loss.shape)
    _, states = norms_and_states([loss])
    if states[0] == GradState.nonfinite:
        with torch.no_grad():
            root.nonfinite = "nan" if bool(torch.isnan(loss.detach()).any()) else "inf"
    has_grads = any(w.tensor.is_leaf and w.tensor.grad is not None for w in watched)
    cap.backward_calls = 1 if has_grads else 0
    read_final_state(cap, watched, optimizer)
    # a custom Function (or a reentrant checkpoint) may run its own backward and fill gradients of
    # parameters its node does not show: then an unreached parameter's .grad may be this loss's
    opaque = any(is_custom(n) for n in cap.graph)
    for w in watched:
        t = w.target
        if t.grad_norm is None:
            continue
        if t.reached or opaque:
            t.delivered, t.delivered_norm = t.grad_state, t.grad_norm
        else:
            t.grad_before = t.grad_norm
    locate_births(cap)
    locate_blocks(cap)
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
    # a watched model's first backward: each op's module, as its forward ran it (NOTE [placed by the forward])
    scopes = scopes_of(model) if model is not None else None
    if model is not None:
        model = _targets.unwrap(model)
        watched = _targets.from_model(model)
        cap.modules = {n: type(m).__name__ for n, m in model.named_modules()}
        cap.model_name = type(model).__name__
    else:
        watched = []
    targets = {id(w.tensor): (w.tensor, w.target.index) for w in watched}
    leaves: list[tuple[str, torch.Tensor]] = []
    module_of = scopes.module_of if scopes is not None else None
    walk = _graph.walk([root], targets, None, hook_norms=False, leaves=leaves, module_of=module_of)
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
    norms, _ = norms_and_states([w.tensor for w in watched])
    for w, norm in zip(watched, norms, strict=True):
        w.target.requires_grad = w.tensor.requires_grad
        w.target.value = sample(w.tensor, norm)
