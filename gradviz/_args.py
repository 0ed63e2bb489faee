"""Argument checks shared by the public functions: each error says what was expected and what was given.

``who`` is the public name the user called (``"gradviz.watch"``), so the message points at their call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

__all__ = ["check_count", "check_flag", "check_optimizer", "check_path", "optimizer_params"]


def check_count(name: str, value: object, minimum: int, meaning: str, *, optional: bool = False) -> None:
    """``value`` is an int >= ``minimum`` (or None when ``optional``): TypeError or ValueError otherwise."""
    if optional and value is None:
        return
    either = " or None" if optional else ""
    message = f"{name} must be an int >= {minimum}{either} ({meaning}), got {_shown(value)}."
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(message)
    if value < minimum:
        raise ValueError(message)


def check_flag(who: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{who}: {name} must be True or False, got {_shown(value)}.")


def check_path(who: str, name: str, value: object) -> None:
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"{who}: {name} must be a path (str or os.PathLike), got {_shown(value)}.")


def check_optimizer(who: str, optimizer: object, *, hooks: bool = False) -> None:
    """``optimizer`` is None, or a ``torch.optim.Optimizer`` (``hooks``: nothing else will do, its step
    hooks are used), or an object with well-formed ``param_groups``."""
    if optimizer is None:
        return
    if hooks and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"{who}: optimizer must be a torch.optim.Optimizer (its step hooks mark the steps), got "
            f"{_shown(optimizer)}; or leave it out and call mon.step() after each update."
        )
    if not hasattr(optimizer, "param_groups"):
        raise TypeError(
            f"{who}: optimizer must be a torch.optim.Optimizer (or an object with its param_groups), "
            f"got {_shown(optimizer)}."
        )
    optimizer_params(optimizer, who)


def optimizer_params(optimizer: object, who: str = "gradviz") -> list[torch.Tensor]:
    """Every tensor in ``optimizer.param_groups``, checked: a list of dicts whose ``"params"`` is a list
    of tensors, as ``torch.optim.Optimizer`` keeps them. A TypeError says where it is not."""
    expected = "a list of dicts, each with a 'params' list of tensors, as torch.optim.Optimizer has"
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list | tuple):
        raise TypeError(
            f"{who}: optimizer.param_groups must be {expected}; {type(optimizer).__name__} has "
            f"{_shown(groups)}."
        )
    params: list[torch.Tensor] = []
    for i, group in enumerate(groups):
        where = f"optimizer.param_groups[{i}]"
        if not isinstance(group, Mapping):
            raise TypeError(
                f"{who}: {where} must be a dict with a 'params' list of tensors, got {_shown(group)}."
            )
        if "params" not in group:
            keys = ", ".join(repr(k) for k in list(group)[:8]) or "none"
            raise TypeError(f"{who}: {where} has no 'params' (a list of tensors); its keys: {keys}.")
        tensors = group["params"]
        if not isinstance(tensors, list | tuple):
            raise TypeError(f"{who}: {where}['params'] must be a list of tensors, got {_shown(tensors)}.")
        for j, t in enumerate(tensors):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{who}: {where}['params'][{j}] must be a tensor, got {_shown(t)}.")
        params.extend(tensors)
    return params


def _shown(value: object) -> str:
    """``value`` as a message shows it: its type, and its repr when short."""
    name = type(value).__name__
    if value is None or isinstance(value, bool | int | float | str):
        text = repr(value)
        return text if len(text) <= 40 else f"a {name}"
    return f"a {name}" if name[0].lower() not in "aeiou" else f"an {name}"
