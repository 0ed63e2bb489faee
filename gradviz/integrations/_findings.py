"""Which verdicts of a first training step mean "will not learn", and the text the callbacks log.

A callback must not cry wolf on what training frameworks do on purpose, nor stay quiet on a real fault:

- ``frozen`` is what a fine-tune does to its base model on purpose: reported only for a parameter that was
  meant to train (an optimizer holds it, or it belongs to an active PEFT adapter, e.g. a LoRA loaded with
  ``is_trainable=False``);
- ``zero`` at the first step is what LoRA does by design (``lora_B`` starts at zero, so ``lora_A`` gets an
  exactly-zero gradient until ``lora_B`` moves): it is checked again over the next steps, and reported
  only if the gradient stayed zero (or None) on every recorded step;
- every other cause (unused, cut by detach / no_grad / ..., not in the optimizer, unregistered, NaN/Inf,
  raised) is reported at once.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import cast

import numpy as np
from torch import nn

from gradviz import view
from gradviz.records import Cause, GradState, History, Verdict

__all__ = ["adapter_parameters", "format_findings", "split_first_step", "still_zero"]


def adapter_parameters(model: nn.Module) -> set[str]:
    """Names (as in ``model.named_parameters()``) of the parameters of active PEFT adapters.

    Read from what PEFT's own layers declare (``adapter_layer_names`` and ``active_adapters`` on LoRA, IA3,
    ... layers and on ``modules_to_save`` wrappers), so PEFT need not be imported.
    """
    owner = {id(p): name for name, p in model.named_parameters()}
    found: set[str] = set()
    for module in model.modules():
        layer_names = getattr(module, "adapter_layer_names", None)
        if not isinstance(layer_names, (tuple, list)):
            continue
        try:
            # PEFT declares a name or a list of names (torch types a module's attributes as Tensor | Module)
            declared = cast("str | Sequence[str] | None", module.active_adapters)
        except Exception:  # a half-built adapter layer: nothing to claim
            continue
        active = [declared] if isinstance(declared, str) else list(declared or ())
        for layer_name in layer_names:
            try:
                container = operator.attrgetter(layer_name)(module)
            except AttributeError:
                continue
            for adapter in active:
                if not hasattr(container, "__contains__") or adapter not in container:
                    continue
                part = container[adapter]
                params = part.parameters() if isinstance(part, nn.Module) else [part]
                found.update(owner[id(p)] for p in params if id(p) in owner)
    return found


def split_first_step(
    verdicts: dict[str, Verdict], meant_to_train: set[str]
) -> tuple[dict[str, Verdict], dict[str, Verdict]]:
    """(reported now, checked again later) among the verdicts of the first step."""
    now: dict[str, Verdict] = {}
    later: dict[str, Verdict] = {}
    for name, v in verdicts.items():
        if v.cause is Cause.ok or (v.cause is Cause.frozen and name not in meant_to_train):
            continue
        (later if v.cause is Cause.zero else now)[name] = v
    return now, later


def still_zero(history: History, candidates: dict[str, Verdict]) -> dict[str, Verdict]:
    """The candidates whose gradient was zero or None on every recorded step, as ``zero`` verdicts."""
    if not len(history):
        return {}
    found: dict[str, Verdict] = {}
    span = (
        f"steps {history.steps[0]}..{history.steps[-1]}" if len(history) > 1 else f"step {history.steps[0]}"
    )
    for name, first in candidates.items():
        if name not in history.names:
            continue
        states = history.state[:, history.index(name)]
        if np.all((states == GradState.zero) | (states == GradState.none)):
            message = (
                f"Its gradient was exactly zero on every recorded step ({span}, {len(history)} steps), "
                f"not only on the first: it does not learn. {first.message}"
            )
            found[name] = Verdict(name, Cause.zero, first.where, message, first.fix, 0.0)
    return found


def format_findings(
    title: str, findings: dict[str, Verdict], width: int = 100, everything: list[str] | None = None
) -> str:
    """A short report: the title, then one paragraph per problem, as the trace's report writes them
    (parameters sharing a cause, a line and a fix: their names, then the message said of them all).
    ``everything``: all the model's tensor names, so that a whole module reads "module.* (n)"."""
    paragraphs = view.paragraphs(list(findings.values()), everything or [], width - 2)
    return "\n".join([title, *("  " + line for line in paragraphs)])
