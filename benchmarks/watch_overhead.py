"""Cost of ``gradviz.watch`` per training step, side by side with two peers, on CPU.

For each model of ``_models.py``, the arms take turns training the same model with AdamW on the same
batches, one step of each arm per round in a shuffled order, so every arm sees the same machine load and
the same memory:

    plain      the training step alone
    gradviz    gradviz.watch(model, optimizer=opt) with its defaults (--forensics: NaN replay armed)
    naive      a per-parameter ``p.grad.norm().item()`` loop after backward
    wandb      wandb.watch(model, log="gradients", log_freq=1) in offline mode, with run.log() each step,
               in its own process and virtual environment, beside a plain arm of its own (a copy of the
               model: wandb's hooks sit on the parameters and cannot be turned off between steps)

Each ratio is the median over rounds of (arm step time / plain step time in the same round). The last two
columns time the monitoring work alone on the trained model's gradients, which is far less noisy than a
difference of step times: ``mon.step()`` (gradviz's work per step, weight steps included at their
``weights_every`` share) against the naive loop, in microseconds per step (medians). "Below the naive loop" is
judged on these, since both step ratios sit within about a percent of each other and of their noise.

    python benchmarks/watch_overhead.py                      # all models, wandb from /tmp/wandb-venv
    python benchmarks/watch_overhead.py --models gpt --rounds 60
    python benchmarks/watch_overhead.py --wandb-python none  # skip wandb
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

# run from a checkout: gradviz is beside benchmarks/, which python puts first on sys.path
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from _models import MODELS

TARGETS = {"mlp": 1.05, "small_cnn": 1.05, "gpt": 1.03, "many_small": 1.10}
ROUNDS = {"mlp": 600, "small_cnn": 600, "gpt": 60, "many_small": 200}  # ~1 minute each, 1 thread
DEFAULT_WANDB_PYTHON = "/tmp/wandb-venv/bin/python"
Step = Callable[[int], None]
AfterBackward = Callable[[torch.nn.Module, torch.Tensor], object]


def make_arm(model: torch.nn.Module, batches: list, loss_fn: Callable, after: AfterBackward | None = None):
    """``model`` with its own AdamW, and a function running training step ``i`` on it."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step(i: int) -> None:
        opt.zero_grad()
        loss = loss_fn(model, batches[i % len(batches)])
        loss.backward()
        if after is not None:
            after(model, loss)
        opt.step()

    return opt, step


def naive(model: torch.nn.Module, loss: torch.Tensor | None = None) -> list[float]:
    return [p.grad.norm().item() for p in model.parameters() if p.grad is not None]


def interleave(arms: dict[str, Step], rounds: int, warmup: int) -> dict[str, float]:
    """Median per-round ratio of each arm's time to the first arm's; ``plain_ms``: the first arm's time."""
    names = list(arms)
    for i in range(warmup):
        for name in names:
            arms[name](i)
    shuffle = random.Random(0).shuffle
    times: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    gc.disable()
    try:
        for r in range(rounds):
            order = names.copy()
            shuffle(order)
            for name in order:
                start = time.perf_counter()
                arms[name](warmup + r)
                times[name].append(time.perf_counter() - start)
            if r % 10 == 9:
                gc.collect()
    finally:
        gc.enable()
    base = times[names[0]]
    result = {"plain_ms": statistics.median(base) * 1e3}
    for name in names[1:]:
        result[name] = statistics.median(t / b for t, b in zip(times[name], base, strict=True))
    return result


def monitoring_cost(model: torch.nn.Module, weights_every: int | None) -> dict[str, float]:
    """µs per step of gradviz's own work (``mon.step()``) and of the naive loop, taking turns.

    Medians, robust to the machine's other load; gradviz's weight steps (and the snapshot step before
    each) are added at their share: base median + their excess over it, spread over all steps. Two full
    ``weights_every`` cycles are timed after one untimed cycle (the first allocates the snapshot).
    """
    import gradviz

    cycle = weights_every or 1
    steps = 2 * max(1, 100 // cycle) * cycle
    times: dict[str, list[float]] = {"gradviz": [], "naive": []}
    with gradviz.watch(model, weights_every=weights_every) as mon:
        for _ in range(cycle):
            mon.step()
        for i in range(steps):  # who goes first finds the gradients in the cache: take turns
            for key in ("gradviz", "naive") if i % 2 else ("naive", "gradviz"):
                start = time.perf_counter()
                if key == "gradviz":
                    mon.step()
                else:
                    naive(model)
                times[key].append(time.perf_counter() - start)
    special = [weights_every is not None and (i % cycle in (0, cycle - 1)) for i in range(steps)]
    normal = [t for t, s in zip(times["gradviz"], special, strict=True) if not s]
    base = statistics.median(normal) if normal else statistics.mean(times["gradviz"])
    excess = sum(t - base for t, s in zip(times["gradviz"], special, strict=True) if s) if normal else 0.0
    return {"gradviz_us": (base + excess / steps) * 1e6, "naive_us": statistics.median(times["naive"]) * 1e6}


def setup(name: str) -> tuple[torch.nn.Module, list, Callable]:
    torch.manual_seed(0)
    model, make_batch, loss_fn = MODELS[name]()
    g = torch.Generator().manual_seed(1)
    return model, [make_batch(g) for _ in range(4)], loss_fn


def alias(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """A second AdamW sharing ``opt``'s parameters and state, with hooks of its own.

    The arms of one process then train the same tensors at the same addresses: separate copies of a model
    differ in speed by a percent or two from where their memory lies alone.
    """
    twin = torch.optim.AdamW(opt.param_groups[0]["params"], lr=1e-3)
    twin.param_groups = opt.param_groups
    twin.state = opt.state
    return twin


def run_local(
    name: str, rounds: int, warmup: int, weights_every: int | None, forensics: bool = False
) -> dict[str, float]:
    import gradviz

    model, batches, loss_fn = setup(name)
    opt, plain = make_arm(model, batches, loss_fn)
    twin = alias(opt)

    def with_naive(i: int) -> None:
        opt.zero_grad()
        loss_fn(model, batches[i % len(batches)]).backward()
        naive(model)
        opt.step()

    def with_gradviz(i: int) -> None:
        twin.zero_grad()
        loss_fn(model, batches[i % len(batches)]).backward()
        twin.step()

    with gradviz.watch(model, optimizer=twin, weights_every=weights_every, forensics=forensics) as mon:
        result = interleave({"plain": plain, "gradviz": with_gradviz, "naive": with_naive}, rounds, warmup)
    assert len(mon.history) == rounds + warmup, mon
    return {**result, **monitoring_cost(model, weights_every)}


def run_wandb_worker(name: str, rounds: int, warmup: int) -> dict[str, float]:
    """In the wandb virtual environment: plain vs wandb.watch, interleaved."""
    import wandb

    model, batches, loss_fn = setup(name)
    with tempfile.TemporaryDirectory() as tmp:
        settings = wandb.Settings(silent=True)
        run = wandb.init(mode="offline", dir=tmp, project="gradviz-bench", settings=settings)
        try:
            _, plain = make_arm(copy.deepcopy(model), batches, loss_fn, lambda m, loss: float(loss))
            watched = copy.deepcopy(model)
            wandb.watch(watched, log="gradients", log_freq=1)
            _, with_wandb = make_arm(
                watched, batches, loss_fn, lambda m, loss: run.log({"loss": float(loss)})
            )
            return interleave({"plain": plain, "wandb": with_wandb}, rounds, warmup)
        finally:
            run.finish()


def run_wandb(python: str, name: str, rounds: int, warmup: int) -> dict[str, float] | str:
    """wandb's ratio, or why there is none."""
    if python == "none":
        return "skipped (--wandb-python none)"
    if not Path(python).exists():
        return f"no wandb environment at {python} (see benchmarks/README.md)"
    cmd = [python, __file__, "--wandb-worker", name, "--rounds", str(rounds), "--warmup", str(warmup)]
    cmd += ["--threads", str(torch.get_num_threads())]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"wandb failed: {last}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--rounds", type=int, default=0, help="timed rounds per model (default: by model)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--weights-every", default="100", help='gradviz weights_every: N or "none"')
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: a busy core skews less)")
    parser.add_argument(
        "--forensics", action="store_true", help="watch(..., forensics=True): NaN replay armed"
    )
    parser.add_argument("--wandb-python", default=DEFAULT_WANDB_PYTHON, help='its python, or "none"')
    parser.add_argument("--wandb-worker", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.wandb_worker:
        print(json.dumps(run_wandb_worker(args.wandb_worker, args.rounds, args.warmup)))
        return

    weights_every = None if args.weights_every == "none" else int(args.weights_every)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), AdamW; gradviz.watch "
        f"(weights_every={weights_every}, forensics={args.forensics}); ratio = median over rounds of arm / "
        "plain step time"
    )
    print(
        f"{'model':<11} {'params':>7} {'tensors':>7} {'step ms':>8} {'gradviz':>8} {'target':>7} "
        f"{'naive':>7} {'wandb':>7}  {'verdict':<8} {'gradviz us':>10} {'naive us':>9}"
    )
    notes = []
    for name in args.models:
        model, _, _ = setup(name)
        params = list(model.parameters())
        rounds = args.rounds or ROUNDS[name]
        local = run_local(name, rounds, args.warmup, weights_every, args.forensics)
        remote = run_wandb(args.wandb_python, name, max(20, rounds // 4), args.warmup)  # far from 1x
        wandb_ratio = remote["wandb"] if isinstance(remote, dict) else None
        if wandb_ratio is None:
            notes.append(f"{name}: wandb n/a: {remote}")
        ok = local["gradviz"] <= TARGETS[name] and local["gradviz_us"] < local["naive_us"]
        ok = ok and (wandb_ratio is None or local["gradviz"] < wandb_ratio)
        wandb_text = f"{wandb_ratio:.3f}x" if wandb_ratio is not None else "n/a"
        print(
            f"{name:<11} {sum(p.numel() for p in params) / 1e6:>6.1f}M {len(params):>7} "
            f"{local['plain_ms']:>8.1f} {local['gradviz']:>7.3f}x {TARGETS[name]:>6.2f}x "
            f"{local['naive']:>6.3f}x {wandb_text:>7}  {'ok' if ok else 'MISSED':<8} "
            f"{local['gradviz_us']:>10.0f} {local['naive_us']:>9.0f}",
            flush=True,
        )
    print(
        "verdict ok: gradviz ratio <= target and < wandb's, and gradviz's work per step < the naive loop's "
        "(the step ratios of the two differ by less than their noise)"
    )
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
