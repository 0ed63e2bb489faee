"""The arguments of a backward call as autograd reads them: ``Tensor.backward``, ``autograd.backward`` and
``autograd.grad`` take the same things at different positions."""

from __future__ import annotations

from typing import Any

import torch

is_wrapped = torch._C._functorch.is_functorch_wrapped_tensor


def unwrap_functorch(t: torch.Tensor) -> torch.Tensor:
    """The plain tensor under every functorch wrapper (for vmap: all the batch's values)."""
    while is_wrapped(t):
        t = torch._C._functorch.get_unwrapped(t)
    return t


def root_tensors(name: str, args: tuple, kwargs: dict) -> list[torch.Tensor]:
    first = args[0] if args else kwargs.get("tensors", kwargs.get("outputs"))
    if isinstance(first, torch.Tensor):
        return [first]
    if isinstance(first, (list, tuple)):
        return [t for t in first if isinstance(t, torch.Tensor)]
    return []


def retains_graph(func: Any, name: str, args: tuple, kwargs: dict) -> bool:
    """Whether a backward call keeps its graph's saved tensors (retain_graph defaults to create_graph)."""
    # autograd.grad(outputs, inputs, grad_outputs, retain_graph, create_graph);
    # autograd.backward(tensors, grad_tensors, retain_graph, create_graph) and
    # Tensor.backward(self, gradient, retain_graph, create_graph)
    retain, create = (3, 4) if name == "grad" else (2, 3)
    create_graph = kwargs.get("create_graph", args[create] if len(args) > create else False)
    retain_graph = kwargs.get("retain_graph", args[retain] if len(args) > retain else None)
    return bool(create_graph if retain_graph is None else retain_graph)


def asked_for(func: Any, name: str, args: tuple, kwargs: dict) -> set[int] | None:
    """ids of the tensors a call asked gradients for: ``autograd.grad``'s inputs, ``backward(inputs=...)``;
    None when it asked for every leaf (a plain ``backward()``)."""
    if name == "grad":
        return {id(unwrap_functorch(t)) for t in grad_inputs(args, kwargs)}
    inputs = kwargs.get("inputs")
    # autograd.backward(tensors, grad_tensors, retain, create, grad_variables, inputs);
    # Tensor.backward(self, gradient, retain, create, inputs)
    position = 5 if func is torch.autograd.backward else 4
    if inputs is None and len(args) > position:
        inputs = args[position]
    if inputs is None:
        return None
    return {id(t) for t in ([inputs] if isinstance(inputs, torch.Tensor) else inputs)}


def grad_inputs(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    inputs = args[1] if len(args) > 1 else kwargs.get("inputs")
    if isinstance(inputs, torch.Tensor):
        return [inputs]
    return list(inputs) if isinstance(inputs, (list, tuple)) else []
