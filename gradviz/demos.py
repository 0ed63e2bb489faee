"""Teaching demos: every case of the tutorial notebooks as one call that returns a finished, tiny example.

>>> import gradviz.demos
>>> d = gradviz.demos.detach_in_forward()   # as a cell's last expression: the widget
>>> d.verdicts["encoder.weight"].cause
<Cause.detach: 'detach'>
>>> d.check()                                # the verdicts are the ones the demo teaches
>>> print(gradviz.demos.catalog())           # doctest: +ELLIPSIS
The autograd graph of a small model, to read node by node:
  two_layer_mlp               A healthy two-layer MLP: its autograd graph, node by node.
...

Most demos return a :class:`Demo`: ``model``, ``optimizer``, ``trace`` (a :class:`gradviz.Trace`),
``error`` (the exception the case raises, with gradviz's note), ``report()``, ``source`` (the code of the
case), ``step()`` (run it again under a new trace) and ``check()``; they take an optional ``seed``.
The training demos (notebook 03) return a :class:`TrainingDemo`: ``monitor`` (a :class:`gradviz.Monitor`),
``history``, ``losses``, ``trace`` (of the step that explains the case, or None) and ``check()``.
Everything is seeded and runs on the CPU in well under a second each.
"""

from __future__ import annotations

from dataclasses import dataclass

from gradviz._demos._base import KINDS, REGISTRY, Demo
from gradviz._demos.cuts import (
    argmax_index,
    detach_in_forward,
    frozen_weight,
    item_round_trip,
    no_grad_block,
    optimizer_misses_submodule,
    plain_list_of_modules,
    reentrant_checkpoint,
    tensor_attribute,
    unused_tensor,
    zero_grad_after_backward,
)
from gradviz._demos.gpt import tiny_gpt_bug, tiny_gpt_fixed
from gradviz._demos.graph import two_layer_mlp, two_layer_mlp_cut
from gradviz._demos.myths import (
    detach_input,
    indexing,
    parameter_attribute,
    rnn_h0_detach,
    scale_output,
    scale_output_inplace,
    zero_grad_top_of_loop,
)
from gradviz._demos.raises import (
    add_on_leaf,
    data_before_loss,
    detach_before_loss,
    inplace_on_saved,
    setitem_on_leaf,
)
from gradviz._demos.training import (
    TrainingDemo,
    dead_relus,
    healthy_deep_relu,
    nan_from_log,
    untrained_body,
    vanishing_gradients,
)
from gradviz._demos.values import dead_relu, round_output, sqrt_distance_nan

__all__ = [
    "Demo",
    "TrainingDemo",
    "add_on_leaf",
    "argmax_index",
    "catalog",
    "data_before_loss",
    "dead_relu",
    "dead_relus",
    "detach_before_loss",
    "detach_in_forward",
    "detach_input",
    "frozen_weight",
    "healthy_deep_relu",
    "indexing",
    "inplace_on_saved",
    "item_round_trip",
    "nan_from_log",
    "no_grad_block",
    "optimizer_misses_submodule",
    "parameter_attribute",
    "plain_list_of_modules",
    "reentrant_checkpoint",
    "rnn_h0_detach",
    "round_output",
    "scale_output",
    "scale_output_inplace",
    "setitem_on_leaf",
    "sqrt_distance_nan",
    "tensor_attribute",
    "tiny_gpt_bug",
    "tiny_gpt_fixed",
    "two_layer_mlp",
    "two_layer_mlp_cut",
    "untrained_body",
    "unused_tensor",
    "vanishing_gradients",
    "zero_grad_after_backward",
    "zero_grad_top_of_loop",
]


@dataclass(frozen=True)
class Entry:
    """One line of the catalog: the demo's name, its group, and what it shows."""

    name: str
    kind: str
    summary: str


class Catalog(tuple):
    """The demos, grouped; printed (or displayed) as a list with one line each."""

    def __repr__(self) -> str:
        width = max((len(e.name) for e in self), default=0)
        lines: list[str] = []
        for kind, title in KINDS.items():
            entries = [e for e in self if e.kind == kind]
            if not entries:
                continue
            if lines:
                lines.append("")
            lines.append(f"{title}:")
            lines += [f"  {e.name.ljust(width)}  {e.summary}" for e in entries]
        return "\n".join(lines)

    __str__ = __repr__


def catalog() -> Catalog:
    """Every demo with a one-line description, in the order of the tutorials: print it to browse them."""
    order = list(KINDS)
    entries = sorted(REGISTRY.values(), key=lambda s: order.index(s.kind))  # stable: file order within a kind
    return Catalog(Entry(s.name, s.kind, s.summary) for s in entries)
