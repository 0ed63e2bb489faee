"""What gradviz.trace and gradviz.watch cost on a torch.compile'd training step, against the same compiled
step untraced, in one run (steps interleaved so they share the machine's load); and the graph breaks each
adds (dynamo's own counters, traced vs untraced: gradviz must add none).

    python benchmarks/compile_overhead.py [--models mlp gpt12] [--backend inductor] [--repeats 15]

Inductor needs a C++ compiler (gcc here); aot_eager runs anywhere. The first call of each variant compiles
and is not timed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gradviz

from _models import gpt, mlp

MODELS = {"mlp": mlp, "gpt12": gpt}


def breaks() -> int:
    import torch._dynamo.utils as dynamo_utils

    return sum(dynamo_utils.counters["graph_break"].values())


def measure(name: str, backend: str, repeats: int) -> str:
    model, make_batch, loss_fn = MODELS[name]()
    compiled = torch.compile(model, backend=backend)
    batch = make_batch(torch.Generator().manual_seed(0))
    mon = gradviz.watch(compiled)  # no optimizer: mon.step() marks each step

    def plain() -> None:
        loss_fn(compiled, batch).backward()
        model.zero_grad(set_to_none=True)

    def traced() -> None:
        with gradviz.trace(compiled):
            loss_fn(compiled, batch).backward()
        model.zero_grad(set_to_none=True)

    def watched() -> None:
        loss_fn(compiled, batch).backward()
        mon.step()
        model.zero_grad(set_to_none=True)

    torch._dynamo.utils.counters.clear()
    plain()
    untraced_breaks = breaks()
    torch._dynamo.utils.counters.clear()
    traced()
    traced_breaks = breaks()
    watched()
    times: dict[str, list[float]] = {"plain": [], "traced": [], "watched": []}
    for _ in range(repeats):
        for key, fn in (("plain", plain), ("traced", traced), ("watched", watched)):
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    mon.close()
    base = statistics.median(times["plain"])
    return (
        f"{name:8s} {base * 1e3:8.1f}ms {statistics.median(times['traced']) / base:7.2f}x "
        f"{statistics.median(times['watched']) / base:7.2f}x   {untraced_breaks} / {traced_breaks}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--backend", default="inductor")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    print(f"torch.compile(backend={args.backend!r}): median step time over {args.repeats} rounds")
    print(f"{'model':8s} {'compiled':>10s} {'+trace':>8s} {'+watch':>8s}   graph breaks (untraced / traced)")
    for name in args.models:
        print(measure(name, args.backend, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
