"""Which tensors a trace diagnoses, and what the optimizer holds.

An ``nn.Module`` contributes its named parameters plus every tensor that requires grad but is not
registered (a plain tensor attribute, modules kept in a plain list or dict, a ``.to()`` copy of a
Parameter): those get gradients the optimizer never sees. A dict contributes its name -> tensor pairs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from gradviz._args import optimizer_params
from gradviz.capture._records import Target


@dataclass
class Watched:
    """A target together with its live tensor; lives only while capture runs."""

    target: Target
    tensor: torch.Tensor


def unwrap(model: nn.Module) -> nn.Module:
    """The user's model inside DistributedDataParallel / DataParallel, so names read as they wrote them."""
    wrappers = (nn.parallel.DistributedDataParallel, nn.DataParallel)
    while isinstance(model, wrappers):
        model = model.module
    return model


def from_model(model: nn.Module) -> list[Watched]:
    watched: list[Watched] = []
    seen: set[int] = set()

    def add(name: str, tensor: torch.Tensor, kind: str, how: str = "", module: str = "") -> None:
        if id(tensor) in seen:
            return
        seen.add(id(tensor))
        watched.append(Watched(_target(len(watched), name, tensor, kind, how, module), tensor))

    for name, param in model.named_parameters():
        add(name, param, "parameter", module=name.rpartition(".")[0])
    for name, tensor, how, module in _unregistered(model, seen):
        add(name, tensor, "unregistered", how, module)
    return watched


def from_mapping(tensors: Mapping[str, object]) -> list[Watched]:
    watched: list[Watched] = []
    for name, tensor in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"gradviz.trace: dict keys must be names (str), got {type(name).__name__}")
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(
                f"gradviz.trace: {name!r} is a {type(tensor).__name__}; the dict must map names to tensors"
            )
        watched.append(Watched(_target(len(watched), name, tensor, "tensor"), tensor))
    return watched


def discovered(index: int, name: str, tensor: torch.Tensor) -> Watched:
    """A leaf requiring grad that the forward used, when trace() was given nothing to watch."""
    return Watched(_target(index, name, tensor, "tensor"), tensor)


def optimizer_ids(optimizer: torch.optim.Optimizer) -> set[int]:
    """ids of the tensors in the optimizer's param groups (a TypeError says where a group is malformed)."""
    return {id(p) for p in optimizer_params(optimizer)}


def _target(
    index: int, name: str, tensor: torch.Tensor, kind: str, how: str = "", module: str = ""
) -> Target:
    grad_fn = tensor.grad_fn
    return Target(
        index=index,
        name=name,
        kind=kind,
        unregistered_how=how,
        module=module,
        requires_grad=tensor.requires_grad,
        is_leaf=tensor.is_leaf,
        grad_fn=None if grad_fn is None else type(grad_fn).__name__,
    )


_SKIP_ATTRS = frozenset({"_parameters", "_buffers", "_modules", "_non_persistent_buffers_set"})


def _unregistered(model: nn.Module, registered: set[int]) -> Iterator[tuple[str, torch.Tensor, str, str]]:
    """Tensors requiring grad reachable from module attributes without being registered parameters."""
    for prefix, module in model.named_modules():
        for attr, value in vars(module).items():
            if attr in _SKIP_ATTRS or attr.startswith("__"):
                continue
            path = f"{prefix}.{attr}" if prefix else attr
            if isinstance(value, torch.Tensor):
                if (
                    value.requires_grad
                    and id(value) not in registered
                    and not isinstance(value, nn.Parameter)
                ):
                    yield path, value, ("copy" if value.grad_fn is not None else "attribute"), prefix
                elif isinstance(value, nn.Parameter) and id(value) not in registered and value.requires_grad:
                    # a Parameter stored in a way nn.Module did not register (e.g. object.__setattr__)
                    yield path, value, "attribute", prefix
            elif isinstance(value, (list, tuple, dict)) and not isinstance(value, nn.Module):
                yield from _in_container(path, value, registered, prefix)


def _in_container(
    path: str, container: list | tuple | dict, registered: set[int], owner: str
) -> Iterator[tuple[str, torch.Tensor, str, str]]:
    how = "dict" if isinstance(container, dict) else "list"
    items = container.items() if isinstance(container, dict) else enumerate(container)
    for key, value in items:
        item_path = f"{path}.{key}"
        if isinstance(value, nn.Module):
            for name, param in value.named_parameters():
                if id(param) not in registered and param.requires_grad:
                    yield f"{item_path}.{name}", param, how, f"{item_path}.{name}".rpartition(".")[0]
        elif isinstance(value, torch.Tensor) and value.requires_grad and id(value) not in registered:
            yield item_path, value, how, owner


def module_names(model: nn.Module) -> dict[int, str]:
    """id(module) -> qualified name, including modules kept in plain lists/dicts (named like params)."""
    names = {id(m): name for name, m in model.named_modules()}
    for prefix, module in model.named_modules():
        for attr, value in vars(module).items():
            if (
                attr in _SKIP_ATTRS
                or not isinstance(value, (list, tuple, dict))
                or isinstance(value, nn.Module)
            ):
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(item, nn.Module) and id(item) not in names:
                    base = f"{prefix}.{attr}.{key}" if prefix else f"{attr}.{key}"
                    for sub, m in item.named_modules():
                        names.setdefault(id(m), f"{base}.{sub}" if sub else base)
    return names
