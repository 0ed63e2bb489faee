"""What gradviz needs to know of torch.compile: which modules run compiled, and a filter for torch's warning
about global module hooks while gradviz's own are live (see NOTE [invisible to torch.compile] in
_tracer.py)."""

from __future__ import annotations

import contextlib
import sys
import warnings
from typing import Any, cast

import torch

__all__ = ["QuietCompileWarning", "compiled_wrapper_type", "holds_compiled"]


def compiled_wrapper_type() -> type | tuple[()]:
    """torch.compile's module wrapper class (``OptimizedModule``), or ``()`` when nothing was compiled (dynamo
    is not imported then: gradviz never imports it)."""
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")
    return eval_frame.OptimizedModule if eval_frame is not None else ()


class QuietCompileWarning:
    """While gradviz's global module hooks are live (a trace's, or watch's until the first backward),
    torch.compile(module) warns on each call that global hooks exist: they are gradviz's own, do nothing
    while dynamo compiles, and the warning would land in the user's cell. A handle: the filter is added
    when made and removed by ``remove()``."""

    def __init__(self) -> None:
        warnings.filterwarnings(
            "ignore",
            message=r"Using `torch\.compile\(module\)` when there are global hooks",
            category=UserWarning,
        )
        self._filter = warnings.filters[0]

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            cast("list[Any]", warnings.filters).remove(self._filter)  # a list at run time, typed a Sequence
        mutated = getattr(warnings, "_filters_mutated", None)  # private, renamed in Python 3.14
        if mutated is not None:
            mutated()  # drop the registries' cached decisions


def holds_compiled(model: torch.nn.Module) -> bool:
    """Whether ``model`` is, or holds, a module compiled by ``torch.compile`` (an OptimizedModule, or one
    whose ``compile()`` was called)."""
    compiled = compiled_wrapper_type()
    if not compiled:
        return False
    return any(
        isinstance(m, compiled) or getattr(m, "_compiled_call_impl", None) is not None
        for m in model.modules()
    )
