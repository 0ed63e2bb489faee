"""One rank of a 2-process DDP run (gloo, 127.0.0.1) under a real Trainer with the gradviz callback.

Run by tests/integrations/test_ddp.py through ``torch.distributed.run`` (which sets RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT)::

    python -m torch.distributed.run --nproc-per-node 2 ... _ddp_job.py {transformers|lightning} OUT_DIR

Each rank writes OUT_DIR/<framework>-rank<r>.json: the plain-torch gradients it saw at every optimizer
step (after DDP's all-reduce, before the update), what the callback recorded, and the gradviz log lines.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _truth import read_grads

STEPS = 3


class Net(nn.Module):
    """``unused`` is never called: DDP with find_unused_parameters=True tolerates it, gradviz reports it."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(6, 8)
        self.head = nn.Linear(8, 1)
        self.unused = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.body(x))).squeeze(-1)


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return torch.randn(48, 6, generator=g), torch.randn(48, generator=g)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def result(cb, probe_steps: list, lines: Lines) -> dict:
    history = cb.monitor.history
    return {
        "rank": int(os.environ["RANK"]),
        "recording": cb.monitor.recording,
        "steps": history.steps.tolist(),
        "names": history.names,
        "state": history.state.tolist(),
        "grad_norm": [
            [None if math.isnan(v) else float(v) for v in row] for row in history.grad_norm.tolist()
        ],
        "probe": probe_steps,
        "findings": {k: v.cause.value for k, v in cb.findings.items()},
        "traced": cb.trace is not None,
        "log_dir": None if cb.log_dir is None else str(cb.log_dir),
        "log": lines.lines,
    }


def run_transformers(out: Path, lines: Lines) -> dict:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from gradviz.integrations.transformers import GradvizCallback

    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = Net()

        def forward(self, x, labels):
            return {"loss": nn.functional.mse_loss(self.net(x), labels)}

    class Probe(TrainerCallback):
        def __init__(self) -> None:
            self.steps: list = []

        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            self.steps.append(read_grads(model))

    torch.manual_seed(0)
    x, y = data()
    args = TrainingArguments(
        output_dir=str(out / "hf"),
        max_steps=STEPS,
        per_device_train_batch_size=4,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        ddp_backend="gloo",
        ddp_find_unused_parameters=True,
        seed=0,
    )
    cb, probe = GradvizCallback(), Probe()
    trainer = Trainer(
        model=Wrapped(),
        args=args,
        train_dataset=[{"x": a, "labels": b} for a, b in zip(x, y, strict=True)],
        callbacks=[probe, cb],
    )
    trainer.train()
    assert isinstance(trainer.model_wrapped, nn.parallel.DistributedDataParallel), type(trainer.model_wrapped)
    return result(cb, probe.steps, lines)


def run_lightning(out: Path, lines: Lines) -> dict:
    import lightning.pytorch as pl

    from gradviz.integrations.lightning import GradvizCallback

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = Net()

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    class Probe(pl.Callback):
        def __init__(self) -> None:
            self.steps: list = []

        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            self.steps.append(read_grads(pl_module))

    torch.manual_seed(0)
    x, y = data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    cb, probe = GradvizCallback(), Probe()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy=pl.strategies.DDPStrategy(process_group_backend="gloo", find_unused_parameters=True),
        max_steps=STEPS,
        callbacks=[probe, cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(out / "pl"),
    )
    trainer.fit(Module(), loader)
    return result(cb, probe.steps, lines)


def main() -> None:
    framework, out = sys.argv[1], Path(sys.argv[2])
    lines = Lines()
    logging.getLogger("gradviz").addHandler(lines)
    logging.getLogger("gradviz").setLevel(logging.INFO)
    rank = int(os.environ["RANK"])
    run = {"transformers": run_transformers, "lightning": run_lightning}[framework]
    report = run(out, lines)
    (out / f"{framework}-rank{rank}.json").write_text(json.dumps(report), encoding="utf-8")


if __name__ == "__main__":
    main()
