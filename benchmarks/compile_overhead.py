"""What gradviz.trace and gradviz.watch cost on a torch.compile'd training step, against the same compiled
step untraced, in one run (steps interleaved so they share the machine's load); and the graph breaks each
adds (dynamo's own counters, traced vs untraced: gradviz must add none). Breaks are counted on a fresh
compile of each (``torch._dynamo.reset()`` first): a traced step that reused the untraced step's compiled
code would count none whatever it did. ``broken`` is the MLP with one graph break of its own
(``torch._dynamo.graph_break()`` between two layers): dynamo's count for it must be the same untraced,
traced and watched.

    python benchmarks/compile_overhead.py [--models mlp broken cnn gpt12 llama] [--backend inductor]

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

from _models import Zoo, gpt, llama, mlp, small_cnn


class _Broken(torch.nn.Module):
    """A module that breaks the compiled graph in two where it runs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch._dynamo.graph_break()
        return x


def broken() -> Zoo:
    """The MLP with one graph break of its own, after its first layer."""
    model, make_batch, loss_fn = mlp()
    model.insert(1, _Broken())
    return model, make_batch, loss_fn


MODELS = {"mlp": mlp, "broken": broken, "cnn": small_cnn, "gpt12": gpt, "llama": llama}


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

    counted = {}
    for key, fn in (("plain", plain), ("traced", traced), ("watched", watched)):
        torch._dynamo.reset()  # each compiled afresh: its own graph breaks
        torch._dynamo.utils.counters.clear()
        fn()
        counted[key] = breaks()
    torch._dynamo.reset()
    for fn in (plain, traced, watched):  # compiled once more, as the timed steps run them: not timed
        fn()
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
        f"{statistics.median(times['watched']) / base:7.2f}x   "
        f"{counted['plain']} / {counted['traced']} / {counted['watched']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--backend", default="inductor")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    print(f"torch.compile(backend={args.backend!r}): median step time over {args.repeats} rounds")
    heads = f"{'model':8s} {'compiled':>10s} {'+trace':>8s} {'+watch':>8s}"
    print(f"{heads}   graph breaks (untraced / traced / watched)")
    for name in args.models:
        print(measure(name, args.backend, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
