"""gradviz under torch.distributed: DDP and FSDP2 (``fully_shard``) on CPU with gloo, 2 processes.

One spawned job (2 ranks on 127.0.0.1, a free port) runs every scenario below and writes what each rank saw;
the tests compare that with the same model trained in this process without torch.distributed. Spawning
costs ~10 s (every rank imports torch and FSDP), so it happens once per module.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import socket
import traceback
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

import gradviz

WORLD = 2
STEPS = 4
JOB_TIMEOUT = 90  # seconds for the whole job; each collective times out after 30 s
pytestmark = pytest.mark.slow


# -- models and data, identical in the workers and in this process ------------------------------------------


class Tiny(nn.Module):
    """Embedding, layer norm, odd sizes (uneven shards: 7 rows over 2 ranks), a head without bias."""

    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(11, 6)
        self.fc1 = nn.Linear(6, 7)
        self.ln = nn.LayerNorm(7)
        self.fc2 = nn.Linear(7, 5)
        self.head = nn.Linear(5, 3, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(F.gelu(self.fc2(self.ln(torch.tanh(self.fc1(self.tok(idx)))))).mean(1))


def tiny(seed: int = 0) -> Tiny:
    torch.manual_seed(seed)
    return Tiny()


def batch(step: int, rank: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of ``step``: 8 sequences; rank r of 2 takes rows 4r..4r+3 (None: all of them)."""
    g = torch.Generator().manual_seed(100 + step)
    x, y = torch.randint(11, (8, 5), generator=g), torch.randint(3, (8,), generator=g)
    if rank is None:
        return x, y
    return x[4 * rank : 4 * rank + 4], y[4 * rank : 4 * rank + 4]


def train(model: nn.Module, rank: int | None, steps: int = STEPS, **watch) -> gradviz.Monitor:
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    mon = gradviz.watch(model, optimizer=opt, weights_every=2, **watch)
    with mon:
        for step in range(steps):
            opt.zero_grad()
            x, y = batch(step, rank)
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return mon


class Branchy(nn.Module):
    """``unused`` never runs; ``branch`` runs on even steps only (the same decision on every rank)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.branch = nn.Linear(4, 4)
        self.unused = nn.Linear(4, 4)
        self.step = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        if self.step % 2 == 0:
            h = self.branch(h)
        self.step += 1
        return h


class Rejected(nn.Module):
    """Parameters DDP rejects for different reasons, and some it accepts (frozen, zero gradient)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(5, 7)
        self.b = nn.Linear(7, 3)
        self.unused = nn.Linear(5, 2)
        self.det = nn.Linear(5, 7)
        self.nograd = nn.Linear(5, 7)
        self.idx = nn.Linear(5, 3)
        self.frozen = nn.Linear(7, 7).requires_grad_(False)
        self.zero = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.a(x)) + self.det(x).detach()
        with torch.no_grad():
            g = self.nograd(x)
        k = self.idx(x).argmax(-1)
        out = self.b(self.frozen(h + g))[torch.arange(len(x)), k]
        return out + 0.0 * self.zero(x).sum()


# -- the job -------------------------------------------------------------------------------------------------


def _history_dict(mon: gradviz.Monitor) -> dict:
    h = mon.history
    return {
        "names": h.names,
        "steps": h.steps.tolist(),
        "grad_norm": np.nan_to_num(h.grad_norm, nan=-1.0).tolist(),
        "param_norm": np.nan_to_num(h.param_norm, nan=-1.0).tolist(),
        "update_ratio": np.nan_to_num(h.update_ratio, nan=-1.0).tolist(),
        "state": h.state.tolist(),
    }


def _ddp(rank: int, out: Path) -> dict:
    model = nn.parallel.DistributedDataParallel(tiny())
    mon = train(model, rank, log_dir=out / "ddp_run")
    return {"history": _history_dict(mon), "recording": mon.recording}


def _ddp_all_ranks(rank: int, out: Path) -> dict:
    model = nn.parallel.DistributedDataParallel(tiny())
    mon = train(model, rank, steps=2, ranks="all", log_dir=out / "all_ranks")
    return {"history": _history_dict(mon)}


def _fsdp(rank: int, out: Path) -> dict:
    from torch.distributed.fsdp import fully_shard

    model = tiny()
    for layer in (model.fc1, model.fc2):
        fully_shard(layer)
    fully_shard(model)
    calls: list[int] = []
    real = dist.all_reduce

    def counting(*args, **kwargs):
        calls[-1] += 1
        return real(*args, **kwargs)

    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    mon = gradviz.watch(model, optimizer=opt, weights_every=2)
    with mon:
        for step in range(STEPS):
            opt.zero_grad()
            x, y = batch(step, rank)
            F.cross_entropy(model(x), y).backward()
            calls.append(0)
            dist.all_reduce = counting  # count gradviz's collectives: FSDP's own run in backward()
            try:
                opt.step()
            finally:
                dist.all_reduce = real
    local = {n: tuple(p.to_local().shape) for n, p in model.named_parameters()}
    return {"history": _history_dict(mon), "all_reduce_per_step": calls, "local_shapes": local}


def _dtensor(rank: int, out: Path) -> dict:
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor, init_device_mesh

    from gradviz.capture._distributed import full_norms

    mesh = init_device_mesh("cpu", (WORLD,))
    full = _dtensor_cases()
    tensors = [distribute_tensor(t, mesh, [Shard(0)]) for t in full]
    tensors.append(distribute_tensor(full[0], mesh, [Replicate()]))
    calls = [0]
    real = dist.all_reduce

    def counting(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    dist.all_reduce = counting
    try:
        norms = [float(n) for n in full_norms(tensors, torch.float32)]
    finally:
        dist.all_reduce = real
    return {"norms": [n if math.isfinite(n) else str(n) for n in norms], "all_reduce": calls[0]}


def _dtensor_cases() -> list[torch.Tensor]:
    torch.manual_seed(3)
    nan = torch.randn(1, 4)
    nan[0, 1] = float("nan")
    return [
        torch.randn(7, 3),  # uneven: 4 + 3 rows
        torch.zeros(5),  # exactly zero
        torch.full((3, 2), 1e-30),  # squares underflow float32: not zero
        torch.full((4,), 1e30),  # squares overflow float32: finite
        nan,  # one row: rank 1's shard is empty
    ]


def _ddp_unused_error(rank: int, out: Path) -> dict:
    # DDP under TORCH_DISTRIBUTED_DEBUG=DETAIL segfaults in its constructor with torch 2.13 on CPU (in
    # Logger.set_construction_data_and_log); built at INFO, switched to DETAIL, it names the parameters.
    dist.set_debug_level(dist.DebugLevel.INFO)
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(Rejected())
    dist.set_debug_level(dist.DebugLevel.DETAIL)
    try:
        for _ in range(2):
            model(torch.randn(4, 5)).sum().backward()
    except RuntimeError as e:
        return {"error": str(e)}
    finally:
        dist.set_debug_level(dist.DebugLevel.OFF)
    return {"error": None}


def _ddp_trace(rank: int, out: Path) -> dict:
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(Rejected(), find_unused_parameters=True)
    with gradviz.trace(model) as t:
        model(torch.randn(4, 5)).sum().backward()
    return {"causes": {k: v.cause.value for k, v in t.verdicts.items()}}


def _ddp_sometimes(rank: int, out: Path) -> dict:
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(Branchy(), find_unused_parameters=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer=opt) as mon:
        for _ in range(6):
            opt.zero_grad()
            model(torch.randn(3, 4)).sum().backward()
            opt.step()
    check = gradviz.ddp_check(mon) if mon.recording else None
    return {
        "sometimes": None if check is None else {k: list(v) for k, v in check.sometimes.items()},
        "never": None if check is None else check.never,
    }


def _fsdp_trace(rank: int, out: Path) -> dict:
    from torch.distributed.fsdp import fully_shard

    torch.manual_seed(0)
    model = Rejected()
    fully_shard(model.a)
    fully_shard(model)
    try:
        with gradviz.trace(model) as t:
            model(torch.randn(4, 5)).sum().backward()
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}
    return {"causes": {k: v.cause.value for k, v in t.verdicts.items()}}


SCENARIOS = {
    "ddp": _ddp,
    "ddp_all_ranks": _ddp_all_ranks,
    "fsdp": _fsdp,
    "dtensor": _dtensor,
    "ddp_unused_error": _ddp_unused_error,
    "ddp_trace": _ddp_trace,
    "ddp_sometimes": _ddp_sometimes,
    "fsdp_trace": _fsdp_trace,
}


def _worker(rank: int, port: int, out: str) -> None:
    out_dir = Path(out)
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD,
        timeout=timedelta(seconds=30),
    )
    results = {}
    for name, scenario in SCENARIOS.items():
        try:
            results[name] = scenario(rank, out_dir)
        except Exception:
            results[name] = {"failed": traceback.format_exc()}
        dist.barrier()
    (out_dir / f"rank{rank}.json").write_text(json.dumps(results), encoding="utf-8")
    dist.destroy_process_group()
    os._exit(0)  # skip the interpreter's slow teardown of torch (seconds per process)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("dist")
    ctx = mp.start_processes(
        _worker, args=(_free_port(), str(out)), nprocs=WORLD, join=False, start_method="spawn"
    )
    try:
        import time

        deadline = time.monotonic() + JOB_TIMEOUT
        while not ctx.join(timeout=max(0.1, deadline - time.monotonic())):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {WORLD}-process job did not finish in {JOB_TIMEOUT} s")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
            p.join(timeout=10)
    ranks = [json.loads((out / f"rank{r}.json").read_text(encoding="utf-8")) for r in range(WORLD)]
    return out, ranks


def _result(job, name: str, rank: int = 0) -> dict:
    result = job[1][rank][name]
    if "failed" in result:
        pytest.fail(f"scenario {name!r} failed on rank {rank}:\n{result['failed']}")
    return result


def _reference(steps: int = STEPS) -> gradviz.Monitor:
    """The same training, in this process, on the full batches, without torch.distributed."""
    return train(tiny(), None, steps=steps)


def _assert_same_history(got: dict, want: gradviz.Monitor) -> None:
    h = want.history
    assert got["names"] == h.names  # no "module." prefix
    assert got["steps"] == h.steps.tolist()
    np.testing.assert_array_equal(np.array(got["state"]), h.state)
    for key in ("grad_norm", "param_norm", "update_ratio"):
        np.testing.assert_allclose(
            np.array(got[key]), np.nan_to_num(getattr(h, key), nan=-1.0), rtol=2e-5, atol=1e-7, err_msg=key
        )


def test_ddp_norms_equal_single_process_norms(job) -> None:
    _assert_same_history(_result(job, "ddp")["history"], _reference())
    assert _result(job, "ddp")["recording"] is True


def test_ddp_only_rank_0_records_and_writes(job) -> None:
    other = _result(job, "ddp", rank=1)
    assert other["recording"] is False and other["history"]["steps"] == []
    out = job[0]
    files = sorted(p.name for p in (out / "ddp_run").iterdir())
    assert files == ["grads.bin", "graph.json", "header.json", "headroom.json", "weights.bin"]
    run = gradviz.open(out / "ddp_run")
    names = {v["name"] for v in run.widget().graph["verdicts"]}  # the graph of the first backward
    assert "fc1.weight" in names and not any(name.startswith("module.") for name in names)
    run.close()
    assert not run.live and run.header["world_size"] == WORLD and run.header["rank"] == 0
    got = _result(job, "ddp")["history"]
    np.testing.assert_array_equal(
        np.nan_to_num(run.history.grad_norm, nan=-1.0), np.array(got["grad_norm"], np.float32)
    )


def test_ranks_all_records_every_rank_in_its_own_files(job) -> None:
    out = job[0] / "all_ranks"
    for rank in range(WORLD):
        got = _result(job, "ddp_all_ranks", rank)["history"]
        assert got["steps"] == [0, 1]
        run = gradviz.open(out, rank=rank)
        assert run.header["rank"] == rank
        np.testing.assert_array_equal(run.history.steps, [0, 1])
    # DDP all-reduced the gradients: every rank saw the same norms
    a, b = (_result(job, "ddp_all_ranks", r)["history"]["grad_norm"] for r in range(WORLD))
    np.testing.assert_array_equal(a, b)


def test_fsdp2_norms_equal_the_unsharded_models_norms(job) -> None:
    result = _result(job, "fsdp")
    assert result["local_shapes"]["fc1.weight"] == [4, 6]  # it really was sharded, unevenly
    _assert_same_history(result["history"], _reference())


def test_fsdp2_norms_cost_one_all_reduce_per_step(job) -> None:
    # weights_every=2: steps 0 and 2 also measure weights (pre-step) and the update (post-step)
    for rank in range(WORLD):
        assert _result(job, "fsdp", rank)["all_reduce_per_step"] == [3, 1, 3, 1]
    assert _result(job, "fsdp", rank=1)["history"]["steps"] == []  # rank 1 took part, kept nothing


def test_dtensor_norms_are_exact_with_one_all_reduce(job) -> None:
    for rank in range(WORLD):
        result = _result(job, "dtensor", rank)
        want = [float(torch.linalg.vector_norm(t.double())) for t in _dtensor_cases()]
        want.append(want[0])
        got = [float(n) for n in result["norms"]]
        assert got[1] == 0.0 and math.isnan(got[4])
        np.testing.assert_allclose(
            [g for i, g in enumerate(got) if i != 4], [w for i, w in enumerate(want) if i != 4], rtol=1e-6
        )
        assert result["all_reduce"] == 1  # Shard(0) tensors: one vector; Replicate needs none


def test_trace_names_exactly_the_parameters_ddp_rejects(job) -> None:
    error = _result(job, "ddp_unused_error")["error"]
    assert error is not None and "did not receive grad" in error
    line = next(ln for ln in error.splitlines() if ln.startswith("Parameters which did not receive grad"))
    ddp_names = {name.strip() for name in line.split(":", 1)[1].split(",")}

    torch.manual_seed(0)
    model = Rejected()  # one process, no torch.distributed
    with gradviz.trace(model) as t:
        model(torch.randn(4, 5)).sum().backward()
    check = gradviz.ddp_check(t)
    assert set(check.rejected) == ddp_names
    assert {k: v.cause.value for k, v in check.rejected.items()} == {
        "unused.weight": "unused",
        "unused.bias": "unused",
        "det.weight": "detach",
        "det.bias": "detach",
        "nograd.weight": "no_grad",
        "nograd.bias": "no_grad",
        "idx.weight": "non_differentiable",
        "idx.bias": "non_differentiable",
    }
    lines, first = inspect.getsourcelines(Rejected.forward)
    line_of = {
        text: first + i
        for i, line in enumerate(lines)
        for text in (".detach()", "with torch.no_grad()", "argmax")
        if text in line
    }
    for name, text in (("det", ".detach()"), ("nograd", "with torch.no_grad()"), ("idx", "argmax")):
        assert check.rejected[f"{name}.weight"].where.endswith(f"test_distributed.py:{line_of[text]}")
    assert "frozen.weight" not in check.rejected and "zero.weight" not in check.rejected
    assert "would raise" in check.report()


def test_trace_on_a_ddp_model_in_a_real_group(job) -> None:
    causes = _result(job, "ddp_trace")["causes"]
    assert causes["det.weight"] == "detach" and causes["a.weight"] == "ok"
    assert not any(name.startswith("module.") for name in causes)


def test_watch_reports_parameters_used_on_some_steps(job) -> None:
    result = _result(job, "ddp_sometimes")
    assert result["sometimes"] == {"branch.weight": [3, 6], "branch.bias": [3, 6]}
    assert result["never"] == ["unused.weight", "unused.bias"]
    assert _result(job, "ddp_sometimes", rank=1)["sometimes"] is None  # rank 1 does not record


def test_trace_verdicts_on_an_fsdp2_model(job) -> None:
    result = _result(job, "fsdp_trace")
    assert "error" not in result, result.get("error")
    causes = result["causes"]
    assert causes["a.weight"] == causes["b.weight"] == "ok"
    assert causes["det.weight"] == "detach" and causes["unused.weight"] == "unused"
    assert causes["nograd.weight"] == "no_grad" and causes["frozen.weight"] == "frozen"


def test_rank_helpers_without_a_process_group(monkeypatch) -> None:
    from gradviz.capture import _distributed as d

    assert not dist.is_initialized()
    monkeypatch.delenv("RANK", raising=False)
    assert d.rank() == 0 and d.world_size() == 1 and d.records_on(None)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert d.rank() == 3 and d.world_size() == 4
    assert not d.records_on(None) and d.records_on("all") and d.records_on([1, 3]) and d.records_on(3)
    with pytest.raises(ValueError, match="ranks must be"):
        d.records_on("some")
    assert not d.is_sharded(torch.ones(2)) and not d.any_sharded([torch.ones(2)])
