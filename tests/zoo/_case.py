"""One zoo case: a real model built from a tiny config, its batch, its loss, and how it is trained.

A case says only what a user's notebook would say; ``_run.py`` runs the same training step on a plain deep
copy (the truth) and under ``gradviz.trace`` (the original), and compares.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

Batch = Any
Loss = Callable[[nn.Module, Batch], torch.Tensor]
Precision = Literal["fp32", "bf16-autocast", "fp16-gradscaler", "fp16-manual-scale"]
# What the traced step starts from: "fresh" (optimizer.zero_grad() before it, the usual loop: no .grad),
# "accumulate" (no zero_grad: .grad still holds the last step's gradient),
# "zeros" (zero_grad(set_to_none=False) before it).
Session = Literal["fresh", "accumulate", "zeros"]
# The static loss scale of the "fp16-manual-scale" cases (fp16 weights and grads): 2**16, GradScaler's
# initial scale. Tiny Llama's embedding gradient is then finite with an L2 norm above fp16's max (65504).
MANUAL_LOSS_SCALE = 65536.0


@dataclass
class Rig:
    """What a training loop holds: the model, its optimizer, and the loss scaler of an fp16 run.

    Deep-copied as one object, so the copy's optimizer holds the copy's parameters.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None = None


@dataclass(frozen=True)
class Case:
    """A model of the zoo and its training step.

    - ``build()`` returns the model (random init from a tiny config; the runner seeds before calling it).
    - ``batch(model)`` returns one batch (seeded by the runner: seed 0 for the traced step, 100 + i for the
      i-th earlier step of a session).
    - ``loss(model, batch)`` is the forward pass and the loss, as the user writes it.
    - ``trainable(model)``: the parameters the optimizer holds (default: those that require grad).
    - ``precision``: fp32; bf16 autocast; fp16 autocast with ``torch.amp.GradScaler("cpu", init_scale)``;
      or fp16 weights with a static loss scale (``MANUAL_LOSS_SCALE``).
    - ``session``, ``warmup_steps``, ``warmup_loss``, ``then``: a notebook session before the traced step:
      ``warmup_steps`` full training steps (with ``warmup_loss`` if given), then ``then(model)`` (e.g. freeze
      a part), then the traced step with ``.grad`` left as ``session`` says.
    - ``shows``: what plain torch must show for the case to be the case it claims (checked on the truth,
      before gradviz runs): pairs ``(state, substring)``, meaning some parameter whose name contains the
      substring has that state (``none``, ``zero``, ``nonfinite``, ``finite``; ``all-finite`` means every
      matching trainable parameter is finite; ``stale-none`` means this backward delivered nothing while
      ``.grad`` held a tensor from before).
    - ``causes``: causes known by construction, ``(substring, cause)``: every parameter whose name contains
      the substring and whose truth is ``none`` must get that cause (beyond the state class).
    - ``ignore_warnings``: regexes of library warnings that are part of the set-up (e.g. the reentrant
      checkpoint's "None of the inputs have requires_grad=True"); ignored in both runs alike.
    """

    name: str
    build: Callable[[], nn.Module]
    batch: Callable[[nn.Module], Batch]
    loss: Loss
    trainable: Callable[[nn.Module], Iterable[nn.Parameter]] | None = None
    optimizer: Literal["adamw", "sgd"] = "adamw"
    precision: Precision = "fp32"
    init_scale: float = 2.0**16  # GradScaler's initial scale (its default)
    session: Session = "fresh"
    warmup_steps: int = 0
    warmup_loss: Loss | None = None
    then: Callable[[nn.Module], None] | None = None
    shows: tuple[tuple[str, str], ...] = ()
    causes: tuple[tuple[str, str], ...] = ()
    ignore_warnings: tuple[str, ...] = ()
    group: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name

    def make_rig(self, model: nn.Module) -> Rig:
        params = list(
            self.trainable(model) if self.trainable else (p for p in model.parameters() if p.requires_grad)
        )
        if self.optimizer == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=1e-2)
        else:
            opt = torch.optim.AdamW(params, lr=1e-3)
        scaler = None
        if self.precision == "fp16-gradscaler":
            scaler = torch.amp.GradScaler("cpu", init_scale=self.init_scale)
        return Rig(model, opt, scaler)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "bf16-autocast":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        if self.precision == "fp16-gradscaler":
            return torch.autocast("cpu", dtype=torch.float16)
        return contextlib.nullcontext()

    def backward(self, rig: Rig, batch: Batch, loss_fn: Loss | None = None) -> torch.Tensor:
        """Forward, loss and backward, as the user's training loop does it; returns the (unscaled) loss, still
        attached to its graph (``gradviz.diagnose`` reads it)."""
        with self.autocast():
            loss = (loss_fn or self.loss)(rig.model, batch)
        if rig.scaler is not None:
            rig.scaler.scale(loss).backward()
        elif self.precision == "fp16-manual-scale":
            (loss * MANUAL_LOSS_SCALE).backward()
        else:
            loss.backward()
        return loss

    def update(self, rig: Rig) -> None:
        """The optimizer step that follows a backward (through the scaler when there is one)."""
        if rig.scaler is not None:
            rig.scaler.step(rig.optimizer)
            rig.scaler.update()
        elif self.precision == "fp16-manual-scale":
            for group in rig.optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.div_(MANUAL_LOSS_SCALE)
            rig.optimizer.step()
        else:
            rig.optimizer.step()


def seeded(seed: int, fn: Callable[..., Any], *args: Any) -> Any:
    torch.manual_seed(seed)
    return fn(*args)


def ids(n: int, vocab: int, batch: int = 2) -> torch.Tensor:
    """Token ids avoiding 0-3 (pad/bos/eos/unk in most tiny configs)."""
    return torch.randint(4, vocab, (batch, n))


def lm_labels(model: nn.Module, batch: dict) -> torch.Tensor:
    return model(**batch).loss


def trainable_only(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
