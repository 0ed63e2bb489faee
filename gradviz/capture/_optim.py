"""The tensors an optimizer holds, read from its ``param_groups`` and checked."""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["optimizer_params", "shown"]


def optimizer_params(optimizer: object, who: str = "gradviz") -> list[torch.Tensor]:
    """Every tensor in ``optimizer.param_groups``, checked: a list of dicts whose ``"params"`` is a list
    of tensors, as ``torch.optim.Optimizer`` keeps them. A TypeError says where it is not."""
    expected = "a list of dicts, each with a 'params' list of tensors, as torch.optim.Optimizer has"
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list | tuple):
        raise TypeError(
            f"{who}: optimizer.param_groups must be {expected}; {type(optimizer).__name__} has "
            f"{shown(groups)}."
        )
    params: list[torch.Tensor] = []
    for i, group in enumerate(groups):
        where = f"optimizer.param_groups[{i}]"
        if not isinstance(group, Mapping):
            raise TypeError(
                f"{who}: {where} must be a dict with a 'params' list of tensors, got {shown(group)}."
            )
        if "params" not in group:
            keys = ", ".join(repr(k) for k in list(group)[:8]) or "none"
            raise TypeError(f"{who}: {where} has no 'params' (a list of tensors); its keys: {keys}.")
        tensors = group["params"]
        if not isinstance(tensors, list | tuple):
            raise TypeError(f"{who}: {where}['params'] must be a list of tensors, got {shown(tensors)}.")
        for j, t in enumerate(tensors):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{who}: {where}['params'][{j}] must be a tensor, got {shown(t)}.")
        params.extend(tensors)
    return params


def shown(value: object) -> str:
    """``value`` as a message shows it: its type, and its repr when short."""
    name = type(value).__name__
    if value is None or isinstance(value, bool | int | float | str):
        text = repr(value)
        return text if len(text) <= 40 else f"a {name}"
    return f"a {name}" if name[0].lower() not in "aeiou" else f"an {name}"
