"""Argument checks shared by the public functions: each error says what was expected and what was given.

``who`` is the public name the user called (``"gradviz.watch"``), so the message points at their call.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable

import torch

from gradviz.capture import optimizer_params
from gradviz.capture import shown as _shown

__all__ = ["check_count", "check_flag", "check_optimizer", "check_path", "select_params"]


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


def select_params(
    model: torch.nn.Module, params: Iterable[str] | Callable[[str, torch.nn.Parameter], bool] | None
) -> tuple[list[str], list[torch.Tensor]]:
    """``gradviz.watch``'s ``params``: all parameters, the ones a filter keeps, or the ones named (a
    ValueError names an unknown name, with the nearest ones)."""
    named = list(model.named_parameters())
    if params is None:
        chosen = named
    elif callable(params):
        chosen = [(name, p) for name, p in named if params(name, p)]
        if not chosen and named:
            raise ValueError(f"the params filter selected none of the {len(named)} parameters of the model.")
    else:
        known = dict(named)
        wanted = list(dict.fromkeys(_names(params)))
        unknown = [name for name in wanted if name not in known]
        if unknown:
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, list(known), n=3)
                hints.append(
                    f"{name!r}" + (f" (did you mean {', '.join(map(repr, close))}?)" if close else "")
                )
            raise ValueError(
                f"no parameter named {', '.join(hints)} in {type(model).__name__}; "
                "names are those of model.named_parameters()."
            )
        chosen = [(name, known[name]) for name in wanted]
    if not chosen:
        raise ValueError(f"{type(model).__name__} has no parameters to watch.")
    return [name for name, _ in chosen], [p for _, p in chosen]


def _names(params: object) -> list[str]:
    """``params`` given as names: one str, or an iterable of str."""
    if isinstance(params, str):
        return [params]
    names = list(params) if isinstance(params, Iterable) and not isinstance(params, torch.Tensor) else None
    if names is None or not all(isinstance(name, str) for name in names):
        raise TypeError(
            "gradviz.watch: params must be parameter names (a str or a list of str) or a filter "
            f"(name, param) -> bool, got {type(params).__name__}"
            + ("" if names is None else f" holding {', '.join(sorted({type(n).__name__ for n in names}))}")
            + "."
        )
    return names
