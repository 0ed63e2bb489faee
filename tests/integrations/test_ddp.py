"""The callbacks under DDP: 2 gloo processes on 127.0.0.1 (torch.distributed.run), a real Trainer each.

Rank 0 records, traces, logs and writes; rank 1 keeps nothing. What rank 0 recorded is checked against
plain torch on both ranks (the gradients after DDP's all-reduce, read by a probe callback).
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradviz

pytestmark = [pytest.mark.integrations, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
TIMEOUT = 240  # seconds for both jobs (each ~25 s alone on 2 idle cores)
FRAMEWORKS = ("transformers", "lightning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, tuple[Path, list[dict]]]:
    for module in ("transformers", "accelerate", "lightning"):
        pytest.importorskip(module)
    jobs = {}
    for framework in FRAMEWORKS:
        out = tmp_path_factory.mktemp(f"ddp-{framework}")
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
            "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
            str(HERE / "_ddp_job.py"), framework, str(out),
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
        log = open(out / "job.log", "w")  # noqa: SIM115 - closed below, after the job
        jobs[framework] = (out, log, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env))
    found = {}
    for framework, (out, log, proc) in jobs.items():
        try:
            code = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = "timeout"
        log.close()
        if code != 0:
            tail = (out / "job.log").read_text()[-3000:]
            pytest.fail(f"the {framework} DDP job ended with {code}:\n{tail}")
        ranks = [json.loads((out / f"{framework}-rank{r}.json").read_text()) for r in (0, 1)]
        found[framework] = (out, ranks)
    return found


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_rank_zero_records_what_every_rank_trained_with(results, framework) -> None:
    _, (zero, one) = results[framework]
    assert zero["recording"] and not one["recording"]
    assert zero["steps"] == [0, 1, 2] and one["steps"] == []
    assert len(zero["probe"]) == len(one["probe"]) == 3
    for row, (truth0, truth1) in enumerate(zip(zero["probe"], one["probe"], strict=True)):
        for name, (state, norm) in truth0.items():
            assert truth1[name][0] == state  # all-reduced: both ranks hold the same gradients
            if not math.isnan(norm):
                assert truth1[name][1] == pytest.approx(norm, rel=1e-6)
            col = zero["names"].index(name)
            assert gradviz.GradState(zero["state"][row][col]).name == state, (framework, row, name)
            if not math.isnan(norm):
                assert zero["grad_norm"][row][col] == pytest.approx(norm, rel=1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_rank_zero_traces_and_reports_the_unused_layer_rank_one_stays_quiet(results, framework) -> None:
    _, (zero, one) = results[framework]
    unused = {"net.unused.weight", "net.unused.bias"}
    assert all(step[n][0] == "none" for step in zero["probe"] for n in unused)  # torch: never a gradient
    assert zero["traced"] and not one["traced"]
    assert zero["findings"] == dict.fromkeys(unused, "unused")
    assert one["findings"] == {} and one["log"] == []
    (warning,) = [line for line in zero["log"] if "will not learn" in line]
    assert "net.unused.* (2): unused" in warning  # one paragraph for the module's two tensors


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_only_rank_zero_writes_the_run(results, framework) -> None:
    _, (zero, one) = results[framework]
    assert one["log_dir"] is None
    log_dir = Path(zero["log_dir"])
    assert not (log_dir / "rank1").exists()
    history = gradviz.open(log_dir).history
    assert history.steps.tolist() == [0, 1, 2]
    recorded = np.array([[np.nan if v is None else v for v in row] for row in zero["grad_norm"]], np.float32)
    np.testing.assert_array_equal(history.grad_norm, recorded)
    assert "unused" in (log_dir / "first_step.txt").read_text()
