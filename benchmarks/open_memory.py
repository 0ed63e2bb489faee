"""Peak memory of ``gradviz.open`` on a large run log, against the size of the log.

Writes a closed run of about ``--mb`` megabytes with ``--params`` parameters (with ``RunWriter``, as
``watch(log_dir=...)`` writes it; weights every 100 steps), then, in a fresh process per case, imports
gradviz (and torch with it), notes the peak resident memory (``ru_maxrss``), opens the run, reads its
history and builds the widget state, and notes the peak again. It reports the growth over the import, its
ratio to the size of the log files (the target is <= 1.5x with the default ``max_steps``), the absolute
peak, and the time to open.

    python benchmarks/open_memory.py                     # 500 MB, 149 parameters (the GPT of _models.py)
    python benchmarks/open_memory.py --mb 50 --params 1000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(1, str(ROOT))  # run from a checkout: gradviz is beside benchmarks/

CHILD = """
import json, os, resource, sys, time
import gradviz
from gradviz.view._watch_state import build_watch_state
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
path, max_steps = sys.argv[1], json.loads(sys.argv[2])
before = peak()
t = time.perf_counter()
run = gradviz.open(path, max_steps=max_steps)
history = run.history
seconds = time.perf_counter() - t
opened = peak()
build_watch_state(history, run._reader.graph, live=run.live)
print(json.dumps({"before": before, "opened": opened, "shown": peak(), "seconds": seconds,
                  "rows": len(history), "steps": run._reader.steps_read, "live": run.live}))
"""


def write_log(path: Path, mb: float, params: int) -> int:
    from gradviz.runlog._writer import RunWriter

    names = [f"layers.{i // 4}.w{i % 4}" for i in range(params)]
    writer = RunWriter(path, names, weights_every=100, model="GPT", optimizer="AdamW", flush_secs=60)
    rng = np.random.default_rng(0)
    grad = rng.random((256, params), dtype=np.float32)
    state = np.full(params, 2, np.uint8)
    weights = (np.ones(params, np.float32), np.full(params, 1e-3, np.float32))
    steps = int(mb * 1e6 / (12 + 5 * params + (12 + 8 * params) / 100))
    for step in range(steps):
        writer.append(step, grad[step % 256], state, *(weights if step % 100 == 0 else ()))
    writer.close()
    return sum(f.stat().st_size for f in path.iterdir() if f.suffix == ".bin")


def measure(path: Path, max_steps: int | None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), json.dumps(max_steps)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=500, help="size of the log to write (MB)")
    parser.add_argument("--params", type=int, default=149, help="watched parameters (columns)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gradviz-open-") as tmp:
        path = Path(tmp) / "run"
        t = time.perf_counter()
        size = write_log(path, args.mb, args.params)
        print(f"wrote {size / 1e6:.0f} MB ({args.params} parameters) in {time.perf_counter() - t:.1f} s")
        head = ("max_steps", "rows", "growth MB", "x log", "peak MB", "+widget x", "open s")
        print(" ".join(f"{h:>{w}}" for h, w in zip(head, (10, 7, 10, 6, 8, 10, 7), strict=True)))
        for max_steps in (2048, None):
            r = measure(path, max_steps)
            growth, shown = r["opened"] - r["before"], r["shown"] - r["before"]
            print(
                f"{max_steps!s:>10} {r['rows']:>7} {growth / 1e6:>10.0f} {growth / size:>6.2f} "
                f"{r['opened'] / 1e6:>8.0f} {shown / size:>10.2f} {r['seconds']:>7.2f}"
            )
        print("growth: peak RSS after gradviz.open(...).history minus peak RSS after `import gradviz` (torch")
        print("included); +widget: the same after building the widget state too. max_steps=None keeps every")
        print("row in memory: 13 bytes per parameter per step (5 on disk), then a copy for the history.")


if __name__ == "__main__":
    main()
