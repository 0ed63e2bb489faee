"""``gradviz.watch``: per-step gradient health while training.

>>> import torch, gradviz
>>> model = torch.nn.Linear(3, 1)
>>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
>>> with gradviz.watch(model, optimizer=opt) as mon:
...     for _ in range(3):
...         opt.zero_grad()
...         model(torch.randn(4, 3)).sum().backward()
...         opt.step()
>>> mon.history.steps.tolist(), mon.history.names
([0, 1, 2], ['weight', 'bias'])
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Literal

import torch

from gradviz._monitor import Monitor, ParamFilter, Ranks

__all__ = ["Monitor", "watch"]


def watch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    every: int = 1,
    weights_every: int | None = 100,
    max_steps: int | None = 2048,
    params: Iterable[str] | ParamFilter | None = None,
    ranks: Ranks = 0,
    log_dir: str | os.PathLike[str] | None = None,
    flush_secs: float = 5.0,
    forensics: bool = False,
    on_nonfinite: Literal["record", "skip"] = "record",
) -> Monitor:
    """Record per-parameter gradient norms at every optimizer step, and weight norms and update ratios.

    Steps come from ``optimizer``'s step hooks; without an optimizer, call ``mon.step()`` once per training
    step, after the update and before ``zero_grad()``. Gradients are read at the step, so several backward
    passes accumulated into one step count as one (their sum, as the optimizer sees it). Each cell keeps the
    gradient's state apart from its norm: None, exactly zero, finite or non-finite (see ``mon.history``).

    Optimizers that take a closure (``opt.step(closure)``: LBFGS, SAM-style two-pass steps, any optimizer
    called with one) compute the gradients inside ``step()``: the row then holds the gradients of the
    closure's *last* evaluation in that step, the ones the step's final update was made from (SAM: the
    second pass, at the perturbed weights; LBFGS: with ``max_iter=1`` its one evaluation, with more the last
    of them, as ``.grad`` holds it when ``step()`` returns). The weight norms and update ratios still span
    the whole step.

    - ``every=N``: record steps 0, N, 2N, ...; the other steps cost one integer test.
    - ``weights_every=K``: on every K-th recorded step also measure the weight norms ‖w‖ and the update
      ratios ‖w_after - w_before‖ / ‖w_before‖ across the optimizer step (NaN on the other rows).
      ``1`` measures them on every recorded step; ``None`` never (and keeps no snapshot).
    - ``max_steps``: keep at most this many rows. When full, every other row is dropped and from then on
      only every 2nd (4th, ...) recorded step is kept: the history spans the whole run at a resolution that
      halves each time it fills (memory: max_steps x parameters x 13 bytes). ``None`` keeps every row.
      ``first_nonfinite`` stays exact at the ``every`` resolution whatever rows were dropped.
    - ``params``: parameter names (as in ``model.named_parameters()``) or a filter ``(name, param) -> bool``.
    - ``log_dir``: also append every recorded step to files in this directory as it is recorded (format:
      ``gradviz/_runlog.py``, 5 bytes per parameter per step); ``gradviz.open(log_dir)`` shows them in a
      notebook, also while the run is still writing. The files are fsync'd every ``flush_secs`` seconds:
      a crash of the machine loses at most that interval, a killed process nothing already recorded.
    - Distributed training (DDP, FSDP2's ``fully_shard``) and ``torch.compile``: pass the wrapped model;
      names are those of the model inside (no ``module.``, no ``_orig_mod.``). Norms are read after DDP's
      all-reduce; sharded (DTensor) parameters get the norms of their full gradients, from the local shards
      and one all_reduce of a vector per step.
      ``ranks``: which ranks record (keep a history, write ``log_dir``, show the widget): ``0`` (default),
      an int, a list of ints, or ``"all"`` (rank r > 0 writes ``log_dir/rank<r>``). The other ranks keep
      nothing; with sharded parameters they still compute the norms with the others (a collective).

    Cost: a recorded step reads each gradient once (one batched ``torch._foreach_norm``) and copies the
    norms to the host once: about what a ``p.grad.norm().item()`` loop costs, less with many parameters.
    A weight step reads the weights about four times more (norm, snapshot copy, difference, its norm), which
    is why it is sparse by default; the snapshot is one extra copy of the parameters the optimizer updates,
    kept for the whole run. Numerics are unchanged: training is bitwise identical with and without ``watch``.

    No hook is put on the model: until the first backward, a process-wide forward hook picks the model out
    by identity (``torch.compile(model)``: a hook on the compiled wrapper instead; a model holding compiled
    submodules: a hook on the model, which does nothing in its copies). So ``copy.deepcopy(model)`` (an
    EMA, a target network), ``pickle.dumps(model)`` and ``torch.save(model)`` work at any time, and the
    copy is not watched. Use it as a context manager, or call ``close()``: either way every hook is removed.
    A new ``watch`` of the same model or optimizer closes the one before it (re-running a notebook cell),
    with a notice.
    A write to ``log_dir`` that fails (full disk, quota, read-only directory) warns once and the training
    goes on; the monitor keeps recording in memory.

    ``forensics=True``: when the first NaN/Inf gradient is recorded, that very step is replayed under
    :func:`gradviz.trace` before the optimizer steps (same weights, inputs, random state, and the gradients
    that arrived at the model's output) and kept as ``mon.first_nonfinite``: ``.trace.capture.births`` say
    which op made the NaN, forward or backward, at your line; ``.from_loss`` when the gradient arriving at
    the model's output was already NaN. Per forward it keeps references to the inputs and the last output
    gradient, and the CPU generator's state; it needs process-wide module hooks for the monitor's lifetime
    (torch.compile warns about those), so it is off by default and not armed for compiled models. Where a
    replay is impossible (inputs written in place, a weight step or closure that already updated the
    weights), ``mon.first_nonfinite.reason`` says why.

    ``on_nonfinite="skip"`` (needs ``optimizer``): a step whose gradients hold NaN/Inf changes no weight,
    as GradScaler skips it: the row is recorded, then the gradients are set to None before the update
    (every torch optimizer leaves a parameter without a gradient alone). ``mon.skipped``: those steps. Not
    for closure steps (LBFGS), whose gradients are computed inside ``step()``.
    """
    return Monitor(
        model,
        optimizer,
        every=every,
        weights_every=weights_every,
        max_steps=max_steps,
        params=params,
        ranks=ranks,
        log_dir=log_dir,
        flush_secs=flush_secs,
        forensics=forensics,
        on_nonfinite=on_nonfinite,
    )
