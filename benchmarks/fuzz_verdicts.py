"""Differential fuzzing of gradviz's verdicts against plain torch.

Generates ``--programs`` small random training steps (tests/fuzz/_generator.py), derives each parameter's
true verdict from torch alone (tests/fuzz/_oracles.py, tests/fuzz/_compare.py), runs each step under
``gradviz.trace`` and counts where they disagree: on the cause, on ``where``, on where a NaN/Inf was born, or
because gradviz itself crashed (or changed the user's exception). Prints one summary line, writes each
disagreeing program into ``--out`` as a standalone script whose header says what torch did and what gradviz
said, and exits 1 when there is any disagreement.

    python benchmarks/fuzz_verdicts.py --seed 7 --programs 2000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # run from a checkout: gradviz and tests/fuzz beside us

from fuzz._run import Summary, fuzz, write_scripts  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--programs", type=int, default=500)
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "_output" / "fuzz")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)

    start = time.perf_counter()

    def progress(index: int, summary: Summary) -> None:
        done = index + 1
        if not args.quiet and (done % 100 == 0 or done == args.programs):
            took = time.perf_counter() - start
            found = len(summary.disagreements)
            print(f"  {done}/{args.programs} programs, {found} disagreements, {took:.0f} s", file=sys.stderr)

    summary = fuzz(args.seed, args.programs, progress=progress)
    written = write_scripts(summary, args.out)
    for outcome, problem in summary.problems:
        print(f"fuzzer problem in {outcome.program.filename}: {problem}", file=sys.stderr)
    if written:
        if not args.quiet:
            print(summary.table(), file=sys.stderr)
        print(f"  {len(written)} programs written to {args.out}", file=sys.stderr)
    print(summary.line())
    return 1 if summary.disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
