"""gradviz on an accelerator: run this where `torch.cuda.is_available()` (no GPU on the development machines).

On the accelerator it finds, for GPT-12 and the HF Llama of trace_overhead.py, in fp32 and under bf16
autocast: a training step plain, under `gradviz.trace`, under `gradviz.watch`, and under anomaly mode;
checks that the traced and watched steps leave every gradient bitwise equal to the plain one; checks the
verdicts of five cases on the device (ok, frozen, unused, detach, a NaN born in sqrt's backward); and
prints one table of times and ratios. On a machine with no accelerator it says so and exits 0. Runs in
a few minutes.

    python benchmarks/device_check.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gradviz

from _models import gpt, llama


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _grads(model: nn.Module) -> dict[str, torch.Tensor | None]:
    return {n: None if p.grad is None else p.grad.detach().clone() for n, p in model.named_parameters()}


def check_cases(device: torch.device) -> list[str]:
    """Five verdicts on the device; returns what went wrong (empty: all as torch says)."""
    wrong = []
    torch.manual_seed(0)
    model = nn.ModuleDict(
        {"enc": nn.Linear(4, 8), "head": nn.Linear(8, 1), "frozen": nn.Linear(4, 1), "aux": nn.Linear(8, 1)}
    ).to(device)
    model["frozen"].requires_grad_(False)
    x = torch.randn(16, 4, device=device)
    with gradviz.trace(model) as t:
        h = model["enc"](x).relu()
        loss = model["head"](h.detach()).pow(2).mean() + model["frozen"](x).mean()
        loss.backward()
    expect = {"enc.weight": "detach", "head.weight": "ok", "frozen.weight": "frozen", "aux.weight": "unused"}
    wrong += [
        f"{n}: {t.verdicts[n].cause} (expected {c})" for n, c in expect.items() if t.verdicts[n].cause != c
    ]
    lin = nn.Linear(3, 2).to(device)
    pts = torch.randn(4, 3, device=device)
    pts[3] = pts[0]
    with gradviz.trace(lin) as t:
        e = lin(pts)
        torch.sqrt(((e[:, None] - e[None]) ** 2).sum(-1)).mean().backward()
    v = t.verdicts["weight"]
    if v.cause != "nonfinite" or "sqrt" not in v.message:
        wrong.append(f"weight: {v.cause} ({v.message[:80]}); expected nonfinite born in sqrt")
    return wrong


def measure(name: str, factory, device: torch.device, dtype: torch.dtype | None, repeats: int) -> str:
    model, make_batch, loss_fn = factory()
    model = model.to(device)
    batch = tuple(b.to(device) for b in make_batch(torch.Generator().manual_seed(0)))
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
    mon = gradviz.watch(model)

    def plain() -> None:
        with autocast:
            loss = loss_fn(model, batch)
        loss.backward()

    def traced() -> None:
        with gradviz.trace(model), autocast:
            loss = loss_fn(model, batch)
            loss.backward()

    def watched() -> None:
        plain()
        mon.step()

    def anomaly() -> None:
        with torch.autograd.detect_anomaly(check_nan=True):
            plain()

    reference = copy.deepcopy(model)
    same = True
    for fn in (traced, watched):
        model.zero_grad(set_to_none=True)
        reference.load_state_dict(model.state_dict())
        fn()
        got = _grads(model)
        model.zero_grad(set_to_none=True)
        plain()
        want = _grads(model)
        same &= all(
            (a is None) == (b is None) and (a is None or torch.equal(a, b))
            for a, b in zip(got.values(), want.values(), strict=True)
        )
    times: dict[str, list[float]] = {"plain": [], "trace": [], "watch": [], "anomaly": []}
    for _ in range(repeats):
        for key, fn in (("plain", plain), ("trace", traced), ("watch", watched), ("anomaly", anomaly)):
            model.zero_grad(set_to_none=True)
            _sync()
            start = time.perf_counter()
            fn()
            _sync()
            times[key].append(time.perf_counter() - start)
    mon.close()
    base = statistics.median(times["plain"])
    ratios = "  ".join(f"{statistics.median(times[k]) / base:6.2f}x" for k in ("trace", "watch", "anomaly"))
    kind = "fp32" if dtype is None else "bf16"
    grads = "bitwise equal" if same else "GRADIENTS DIFFER"
    return f"{name:6s} {kind:5s} {base * 1e3:8.1f}ms  {ratios}   {grads}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("device_check: no CUDA device here (torch.cuda.is_available() is False): nothing to check.")
        return 0
    device = torch.device("cuda")
    print(f"device_check on {torch.cuda.get_device_name(device)} (torch {torch.__version__})")
    wrong = check_cases(device)
    print("verdicts of five cases:", "as torch says" if not wrong else "; ".join(wrong))
    print(
        f"{'model':6s} {'dtype':5s} {'plain':>10s}  {'trace':>7s}  {'watch':>7s}  {'anomaly':>7s}   gradients"
    )
    for name, factory in (("gpt12", gpt), ("llama", llama)):
        for dtype in (None, torch.bfloat16):
            print(measure(name, factory, device, dtype, args.repeats))
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
