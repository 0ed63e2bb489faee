"""Argument checks shared by the public functions: each error says what was expected and what was given.

``who`` is the public name the user called (``"gradviz.watch"``), so the message points at their call.
"""

from __future__ import annotations

import os

import torch

from gradviz.capture import optimizer_params
from gradviz.capture import shown as _shown

__all__ = ["check_count", "check_flag", "check_optimizer", "check_path"]


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
