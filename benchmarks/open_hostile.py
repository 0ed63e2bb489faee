"""``gradviz.open`` on hostile run folders: time and peak memory, beside valid folders of the same size.

Builds, in a temporary directory:

- ``valid``: a closed run whose ``grads.bin`` is ``--mb`` MB of intact records;
- ``crafted (end markers)``: the same size, one intact record, then bytes that hold the end marker (step
  -1) at every position, so that every position is worth a crc32 while searching for the next intact
  record, then 10 intact records and the end record;
- ``crafted (small steps)``: the same with ``01 00 00 00 00 00 00 00`` repeated (5 positions in 8 hold a
  step that could follow the last one);
- ``crafted (junk after every record)``: the valid file's records, each followed by a byte of junk (a
  search after every record), cut to the same size;
- each for ``--params`` parameters (2: records of 22 bytes, as the tests write them; 149: the GPT of
  ``_models.py``);
- ``million names``: a header naming 1,000,000 one-letter parameters (4 MB) over no records;
- ``deep graph``: a small run whose ``graph.json`` nests 100,000 levels (left out, said);
- ``deep header``: a header with a field nested 100,000 levels (a ValueError naming it).

Each case is opened ``--rounds`` times, the cases interleaved round by round; the table gives the median
time of ``gradviz.open(path)`` and the peak memory traced by ``tracemalloc`` during one more
``gradviz.open(path).history`` (numpy's buffers included), then the ratio of each crafted file's time to
the valid one's. The search for records after damage uses the compiled crc32 scanner when gradviz was
installed with it (hatch_build.py), numpy's otherwise; ``--numpy`` measures numpy's where both are (NOTE
[a rolling crc32] in gradviz/runlog/_rolling.py). The table says which ran.

    python benchmarks/open_hostile.py
    python benchmarks/open_hostile.py --numpy
    python benchmarks/open_hostile.py --mb 64 --params 2 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(1, str(ROOT))  # run from a checkout: gradviz is beside benchmarks/

import gradviz  # noqa: E402
import gradviz.runlog._rolling as rolling  # noqa: E402
import gradviz.runlog._scan as scan  # noqa: E402
from gradviz.runlog import RunWriter  # noqa: E402

DEEP = 100_000


def _write_run(path: Path, names: list[str], steps: int) -> int:
    """A closed run of ``steps`` steps (weights every 100); the size of its grads.bin."""
    p = len(names)
    writer = RunWriter(path, names, weights_every=100, model="GPT", optimizer="AdamW", flush_secs=60)
    grad = np.random.default_rng(0).random((64, p), dtype=np.float32)
    state = np.full(p, 2, np.uint8)
    weights = (np.ones(p, np.float32), np.full(p, 1e-3, np.float32))
    for step in range(steps):
        writer.append(step, grad[step % 64], state, *(weights if step % 100 == 0 else ()))
    writer.close()
    return (path / "grads.bin").stat().st_size


def build(tmp: Path, mb: float, params: list[int]) -> dict[str, Path]:
    cases: dict[str, Path] = {}
    for p in params:
        names = [f"layers.{i // 4}.w{i % 4}" for i in range(p)]
        size = 12 + 5 * p
        valid = tmp / f"valid-{p}"
        _write_run(valid, names, int(mb * 2**20) // size - 1)
        cases[f"valid ({p} params)"] = valid
        data = (valid / "grads.bin").read_bytes()
        for label, unit in (("end markers", b"\xff"), ("small steps", b"\x01" + bytes(7))):
            crafted = tmp / f"crafted-{label.replace(' ', '-')}-{p}"
            _write_run(crafted, names, 12)
            records = (crafted / "grads.bin").read_bytes()  # 12 records and the end record
            fill = len(data) - len(records)
            (crafted / "grads.bin").write_bytes(
                records[:size] + (unit * (fill // len(unit) + 1))[:fill] + records[size:]
            )
            cases[f"crafted, {label} ({p} params)"] = crafted
        junk = tmp / f"crafted-junk-{p}"
        _write_run(junk, names, 12)
        kept = (len(data) - size) // (size + 1)  # records each followed by a byte of junk, the end record
        pieces = [data[i * size : (i + 1) * size] + b"\xee" for i in range(kept)]
        (junk / "grads.bin").write_bytes(b"".join(pieces) + data[-size:])
        cases[f"crafted, junk after every record ({p} params)"] = junk
    million = tmp / "million-names"
    million.mkdir()
    header = {
        "format": "gradviz-run",
        "version": 1,
        "names": ["a"] * 1_000_000,
        "every": 1,
        "weights_every": 100,
        "grads": {"file": "grads.bin", "record_bytes": 12 + 5 * 1_000_000},
        "weights": {"file": "weights.bin", "record_bytes": 12 + 8 * 1_000_000},
    }
    (million / "header.json").write_text(json.dumps(header, separators=(",", ":")), encoding="utf-8")
    (million / "grads.bin").write_bytes(b"")
    (million / "weights.bin").write_bytes(b"")
    cases["million names, no records"] = million
    deep_graph = tmp / "deep-graph"
    _write_run(deep_graph, ["enc.weight", "enc.bias"], 100)
    (deep_graph / "graph.json").write_text(
        '{"graph": {"x": ' + "[" * DEEP + "]" * DEEP + "}}", encoding="utf-8"
    )
    cases["deep graph.json"] = deep_graph
    deep_header = tmp / "deep-header"
    _write_run(deep_header, ["enc.weight", "enc.bias"], 100)
    text = (deep_header / "header.json").read_text(encoding="utf-8").rstrip().rstrip("}")
    (deep_header / "header.json").write_text(
        text + ', "x": ' + "[" * DEEP + "]" * DEEP + "}", encoding="utf-8"
    )
    cases["deep header.json"] = deep_header
    return cases


def open_once(path: Path) -> str:
    """gradviz.open and its history; what it read, or the error it raised."""
    try:
        run = gradviz.open(path)
    except ValueError as e:
        return f"ValueError: {str(e).split(': ', 1)[-1][:60]}"
    r = run._reader
    said = f"; {r.problems[0][:40]}" if r.problems else ""
    return f"{r.steps_read} steps, {run.skipped_bytes / 2**20:.1f} MB skipped{said}"


def traced_peak(function: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=16, help="size of the valid and crafted grads.bin (MB)")
    parser.add_argument("--params", default="2,149", help="parameters of the valid and crafted runs")
    parser.add_argument("--rounds", type=int, default=5, help="opens of each case (the median is shown)")
    parser.add_argument("--numpy", action="store_true", help="search with numpy's scanner, not the compiled")
    args = parser.parse_args()
    if args.numpy:  # as a wheel built without a C compiler reads
        rolling._compiled_windows = None
        scan.NS_PER_POSITION = 5.0
    scanner = "compiled crc32 scanner (_crcscan.c)" if rolling._compiled_windows else "numpy crc32 scanner"
    with tempfile.TemporaryDirectory(prefix="gradviz-hostile-") as tmp:
        cases = build(Path(tmp), args.mb, [int(p) for p in args.params.split(",")])
        sizes = {k: sum(f.stat().st_size for f in v.rglob("*") if f.is_file()) for k, v in cases.items()}
        times: dict[str, list[float]] = {k: [] for k in cases}
        outcome = {k: open_once(v) for k, v in cases.items()}  # warm: imports, page cache
        for _ in range(args.rounds):
            for label, path in cases.items():
                t = time.perf_counter()
                open_once(path)
                times[label].append(time.perf_counter() - t)
        peaks = {k: traced_peak(lambda v=v: open_once(v)) for k, v in cases.items()}
    width = max(map(len, cases))
    print(f"{'case':<{width}} {'files MB':>9} {'open s':>8} {'peak MB':>8}  read")
    for label in cases:
        median = statistics.median(times[label])
        print(
            f"{label:<{width}} {sizes[label] / 2**20:>9.1f} {median:>8.3f} {peaks[label] / 2**20:>8.1f}  "
            f"{outcome[label]}"
        )
    for label in cases:
        if label.startswith("crafted"):
            valid = "valid " + label[label.index("(") :]
            ratio = statistics.median(times[label]) / statistics.median(times[valid])
            print(f"{label} / {valid}: {ratio:.2f}x")
    print(f"open s: median of {args.rounds} interleaved gradviz.open calls; peak MB: tracemalloc peak of one")
    print(f"more gradviz.open(path).history. The search after damage used the {scanner}.")


if __name__ == "__main__":
    main()
