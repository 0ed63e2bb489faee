"""Cost of ``gradviz.watch`` per training step under 2-process DDP on CPU (gloo on 127.0.0.1).

Each rank wraps the same model in DistributedDataParallel and trains it with AdamW. The arms share the DDP
model and its parameters; each has its own optimizer (sharing the parameters and the optimizer state, so
they train the same tensors at the same addresses), so only the optimizer hooks differ:

    ddp        DDP alone
    watch      gradviz.watch(ddp_model, optimizer=opt) with its defaults (rank 0 records, rank 1 counts steps)
    watch+log  the same with log_dir= (rank 0 appends every step to disk, fsync every 5 s)

One step of each arm per round, in an order shuffled the same way on both ranks. Each ratio is the median
over rounds of (arm step time / ddp step time in the same round), on rank 0 (the recording rank) and on
rank 1. ``work`` is the median of (arm optimizer.step() time - ddp optimizer.step() time): gradviz's own
work per step, far less noisy than a difference of whole steps. ``bytes/step/param``: what watch+log wrote,
per recorded step and watched parameter (weight records included at their every-100-steps share).

    python benchmarks/ddp_overhead.py                 # GPT-style model (10M parameters, 149 tensors)
    python benchmarks/ddp_overhead.py --model mlp --rounds 200
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

# run from a checkout: gradviz is beside benchmarks/, which python puts first on sys.path
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from _models import MODELS

WORLD = 2
TARGET = 1.03
ARMS = ("ddp", "watch", "watch+log")


def _twin(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    twin = torch.optim.AdamW(opt.param_groups[0]["params"], lr=1e-3)
    twin.param_groups = opt.param_groups
    twin.state = opt.state
    return twin


def worker(rank: int, port: int, name: str, rounds: int, warmup: int, out: str) -> None:
    import gradviz

    torch.set_num_threads(1)  # two ranks on two cores
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD,
        timeout=timedelta(seconds=60),
    )
    torch.manual_seed(0)
    model, make_batch, loss_fn = MODELS[name]()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    g = torch.Generator().manual_seed(1 + rank)  # each rank its own data
    batches = [make_batch(g) for _ in range(4)]
    opt = torch.optim.AdamW(ddp.parameters(), lr=1e-3)
    opts = {"ddp": opt, "watch": _twin(opt), "watch+log": _twin(opt)}
    log_dir = Path(out) / "run"
    mons = [
        gradviz.watch(ddp, optimizer=opts["watch"]),
        gradviz.watch(ddp, optimizer=opts["watch+log"], log_dir=log_dir),
    ]
    step_times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    opt_times: dict[str, list[float]] = {arm: [] for arm in ARMS}

    def step(arm: str, i: int) -> tuple[float, float]:
        o = opts[arm]
        start = time.perf_counter()
        o.zero_grad()
        loss_fn(ddp, batches[i % len(batches)]).backward()
        mid = time.perf_counter()
        o.step()
        end = time.perf_counter()
        return end - start, end - mid

    shuffle = random.Random(0).shuffle  # the same order on both ranks
    for i in range(warmup):
        for arm in ARMS:
            step(arm, i)
    gc.collect()
    gc.disable()
    try:
        for r in range(rounds):
            order = list(ARMS)
            shuffle(order)
            for arm in order:
                total, in_opt = step(arm, warmup + r)
                step_times[arm].append(total)
                opt_times[arm].append(in_opt)
            if r % 10 == 9:
                gc.collect()
    finally:
        gc.enable()
    for mon in mons:
        mon.close()
    base, base_opt = step_times["ddp"], opt_times["ddp"]
    result: dict[str, object] = {"rank": rank, "ddp_ms": statistics.median(base) * 1e3}
    for arm in ARMS[1:]:
        result[arm] = statistics.median(t / b for t, b in zip(step_times[arm], base, strict=True))
        result[f"{arm} work_us"] = statistics.median(
            (t - b) * 1e6 for t, b in zip(opt_times[arm], base_opt, strict=True)
        )
    result["recorded"] = len(mons[0].history)
    if rank == 0:
        steps = warmup + rounds
        names = len(mons[1].history.names)
        size = sum(f.stat().st_size for f in log_dir.iterdir() if f.suffix == ".bin")
        run = gradviz.open(log_dir, max_steps=None)
        assert len(run.history) == steps, run
        assert not run.live, run
        header = run.header
        # steady state: a grads record every step, a weights record every weights_every steps
        steady = header["grads"]["record_bytes"] + header["weights"]["record_bytes"] / header["weights_every"]
        result.update(params=names, steps=steps, written=size, steady=steady)
    Path(out, f"rank{rank}.json").write_text(json.dumps(result), encoding="utf-8")
    dist.destroy_process_group()
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="gpt", choices=sorted(MODELS))
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as out:
        mp.spawn(worker, args=(port, args.model, args.rounds, args.warmup, out), nprocs=WORLD)
        results = [json.loads(Path(out, f"rank{r}.json").read_text(encoding="utf-8")) for r in range(WORLD)]
    print(f"{args.model}: 2-process DDP on CPU (gloo), {args.rounds} rounds, torch {torch.__version__}")
    print(f"{'rank':>4}  {'ddp ms':>8}  {'watch':>7}  {'work µs':>8}  {'watch+log':>9}  {'work µs':>8}")
    for r in results:
        print(
            f"{r['rank']:>4}  {r['ddp_ms']:8.1f}  {r['watch']:7.3f}  {r['watch work_us']:8.0f}  "
            f"{r['watch+log']:9.3f}  {r['watch+log work_us']:8.0f}"
        )
    r0 = results[0]
    print(
        f"target: watch within {TARGET:.2f}x of DDP on the recording rank: "
        f"{'met' if r0['watch'] <= TARGET else 'NOT met'} "
        f"({r0['watch']:.3f}x; with log_dir {r0['watch+log']:.3f}x)"
    )
    p = r0["params"]
    print(
        f"written: {r0['written']} bytes for {r0['steps']} steps of {p} parameters (with the end record); "
        f"steady state {r0['steady']:.0f} bytes per step = {r0['steady'] / p:.2f} bytes per step per "
        "parameter "
        "(5 per parameter + 12 per step in grads.bin, (12 + 8 per parameter) per weight step in weights.bin)"
    )


if __name__ == "__main__":
    main()
