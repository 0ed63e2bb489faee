"""What gradviz.trace costs on a forward+backward, side by side with its peers, in one run.

For each model: the median time of a training step (forward + backward) plain, inside
``gradviz.trace`` (verdicts included, every diagnostic on: node norms, finite checks), inside
``gradviz.trace(node_norms=False)``, and under ``torch.autograd.set_detect_anomaly(True)``; steps of
all variants interleaved so they share the machine's load. TorchLens patches torch globally, so it runs
in a subprocess of its own (set GRADVIZ_TORCHLENS_PYTHON to a Python that has torchlens installed with
the same torch) and is reported against the plain forward in that process.

The HF Llama case needs ``transformers`` (a test dependency); the tiny model is where a trace's fixed
costs dominate (a step of ~0.1 ms).

    python benchmarks/trace_overhead.py [--repeats 15] [--models tiny mlp cnn gpt12 llama]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gradviz

from _models import gpt, llama, mlp, small_cnn, tiny

MODELS = {"tiny": tiny, "mlp": mlp, "cnn": small_cnn, "gpt12": gpt, "llama": llama}


def _step(model, loss_fn, batch) -> None:
    loss_fn(model, batch).backward()
    model.zero_grad(set_to_none=True)


def _variants(model, loss_fn, batch):
    def plain():
        _step(model, loss_fn, batch)

    def traced():
        with gradviz.trace(model) as t:
            loss_fn(model, batch).backward()
        assert t.verdicts  # verdicts are part of the cost
        model.zero_grad(set_to_none=True)

    def traced_bare():
        with gradviz.trace(model, node_norms=False) as t:
            loss_fn(model, batch).backward()
        assert t.verdicts
        model.zero_grad(set_to_none=True)

    def anomaly():
        with warnings.catch_warnings(), torch.autograd.set_detect_anomaly(True):
            warnings.simplefilter("ignore")
            _step(model, loss_fn, batch)

    return {"plain": plain, "gradviz.trace": traced, "no node norms": traced_bare, "anomaly mode": anomaly}


def measure(name: str, repeats: int) -> tuple[float, dict[str, tuple[float, float, float]]]:
    """(median plain step, {variant: (median, 25th, 75th percentile) of its per-round ratio to plain}).

    Each round runs every variant once, plain first and last; a variant's ratio is its time over the mean
    of the two plain steps around it. Ratios within a round cancel the drift of a shared virtual machine's
    speed, which moves medians of raw times by several percent from one run to the next."""
    torch.manual_seed(0)
    model, make_batch, loss_fn = MODELS[name]()
    batch = make_batch(torch.Generator().manual_seed(0))
    variants = _variants(model, loss_fn, batch)
    for fn in variants.values():  # warm up
        fn()
        fn()
    plain = variants.pop("plain")
    ratios: dict[str, list[float]] = {k: [] for k in variants}
    plains: list[float] = []
    for _ in range(repeats):
        before = _timed(plain)
        took = {key: _timed(fn) for key, fn in variants.items()}
        after = _timed(plain)
        base = (before + after) / 2
        plains.append(base)
        for key, value in took.items():
            ratios[key].append(value / base)
    spread = {}
    for key, values in ratios.items():
        q1, median, q3 = statistics.quantiles(values, n=4)
        spread[key] = (median, q1, q3)
    return statistics.median(plains), spread


def _cell(spread: tuple[float, float, float]) -> str:
    median, q1, q3 = spread
    return f"{median:.2f}x ({q1:.2f}-{q3:.2f})"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class _BareMode(TorchFunctionMode):
    """A TorchFunctionMode that does nothing: what any mode-based tracer pays per call before its work."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def per_call_cost(n: int = 5_000, rounds: int = 15) -> tuple[float, float]:
    """Microseconds one intercepted torch call (a small elementwise op) costs inside gradviz.trace, and
    inside a bare mode, over the plain call. Minimum over interleaved rounds: the least-disturbed run."""
    w = torch.ones(8, requires_grad=True)
    x = torch.ones(8)

    def loop() -> float:
        y = x
        start = time.perf_counter()
        for _ in range(n):
            y = y + w
        return time.perf_counter() - start

    best = {"plain": float("inf"), "bare": float("inf"), "gradviz": float("inf")}
    for _ in range(rounds):
        best["plain"] = min(best["plain"], loop())
        with _BareMode():
            best["bare"] = min(best["bare"], loop())
        with gradviz.trace({"w": w}):
            best["gradviz"] = min(best["gradviz"], loop())
    return ((best["gradviz"] - best["plain"]) / n * 1e6, (best["bare"] - best["plain"]) / n * 1e6)


_TORCHLENS_CHILD = r"""
import json, statistics, sys, time, torch, torchlens as tl
sys.path.insert(0, sys.argv[1])
from _models import gpt, llama, mlp, small_cnn, tiny
name, repeats = sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
factories = {"tiny": tiny, "mlp": mlp, "cnn": small_cnn, "gpt12": gpt, "llama": llama}
model, make_batch, loss_fn = factories[name]()
x, _ = make_batch(torch.Generator().manual_seed(0))
opts = tl.options.CaptureOptions(unwrap_when_done=True) if hasattr(tl, "options") else None
def plain():
    with torch.no_grad():
        model(input_ids=x) if name == "llama" else model(x)
call = {"input_args": None, "input_kwargs": {"input_ids": x}} if name == "llama" else {"input_args": x}
def lens():
    tl.trace(model, **call, capture=opts) if opts is not None else tl.trace(model, **call)
plain(); lens(); lens()
a, b = [], []
for _ in range(repeats):
    t0 = time.perf_counter(); plain(); a.append(time.perf_counter() - t0)
    t0 = time.perf_counter(); lens(); b.append(time.perf_counter() - t0)
print(json.dumps({"forward": statistics.median(a), "torchlens": statistics.median(b)}))
"""


def torchlens(name: str, repeats: int) -> str:
    python = os.environ.get("GRADVIZ_TORCHLENS_PYTHON")
    if not python:
        return "n/a (set GRADVIZ_TORCHLENS_PYTHON)"
    here = str(Path(__file__).resolve().parent)
    try:
        out = subprocess.run(
            [python, "-c", _TORCHLENS_CHILD, here, name, str(max(3, repeats // 3))],
            capture_output=True, text=True, timeout=900, check=True,
        )  # fmt: skip
        result = json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        return f"n/a ({type(exc).__name__})"
    return f"{result['torchlens'] / result['forward']:.1f}x fwd"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.repeats} interleaved rounds")
    ours, bare = per_call_cost()
    print(f"per intercepted call: gradviz {ours:.2f} µs, of which {bare:.2f} µs any TorchFunctionMode pays")
    header = (
        f"{'model':<7} {'plain step':>11} {'gradviz.trace':>19} {'no node norms':>19} {'anomaly mode':>19} "
        f"{'TorchLens':>16}"
    )
    print(header)
    print("-" * len(header))
    for name in args.models:
        base, r = measure(name, args.repeats)

        cells = [_cell(r[key]) for key in ("gradviz.trace", "no node norms", "anomaly mode")]
        print(
            f"{name:<7} {base * 1e3:>9.2f}ms {cells[0]:>19} {cells[1]:>19} {cells[2]:>19} "
            f"{torchlens(name, args.repeats):>16}"
        )
    print(
        "ratios: median (and quartiles) over rounds of a variant's step over the plain steps around it "
        "(TorchLens: over a plain forward in its own process)"
    )
    print("targets: gradviz.trace <= 1.10x on gpt12 and llama, and below anomaly mode on every model")


if __name__ == "__main__":
    main()
