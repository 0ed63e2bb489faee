"""Cost of the gradviz training callbacks per optimizer step, inside a real Trainer, on CPU.

Two frameworks, two arms each, on tiny random-init models (the worst case: fixed costs dominate):

    transformers   LlamaForCausalLM (hidden 64, 2 layers, vocab 256, batch 8 x 32 tokens), Trainer
    lightning      an MLP classifier (3 x 256 wide, batch 64), Lightning Trainer

    plain          the Trainer alone
    gradviz        with GradvizCallback() (defaults: watch every step, weights every 100th, trace the first
                   step, write the run under the output directory)

Each round trains every arm once (shuffled order) for ``--steps`` optimizer steps; a timing callback stamps
each step's end. Reported per framework: the median step time over steps 2.. of all rounds (the steady
state: watching only), their ratio and difference, and the median first-step time of each arm (the traced
step, plus the log directory, against the plain first step).

    python benchmarks/callback_overhead.py                 # both frameworks
    python benchmarks/callback_overhead.py --framework lightning --rounds 10 --steps 60
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn


def transformers_arm(with_gradviz: bool, steps: int, workdir: Path) -> list[float]:
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainerCallback, TrainingArguments

    from gradviz.integrations.transformers import GradvizCallback

    class Clock(TrainerCallback):
        def __init__(self) -> None:
            self.stamps = [0.0]

        def on_train_begin(self, *a, **k):
            self.stamps = [time.perf_counter()]

        def on_step_end(self, *a, **k):
            self.stamps.append(time.perf_counter())

    config = LlamaConfig(
        vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=64, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    g = torch.Generator().manual_seed(1)
    data = [{"input_ids": t, "labels": t} for t in torch.randint(1, 256, (8 * steps, 32), generator=g)]
    args = TrainingArguments(
        output_dir=str(workdir), max_steps=steps, per_device_train_batch_size=8, report_to="none",
        use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True,
    )  # fmt: skip
    clock = Clock()
    callbacks = [clock, GradvizCallback()] if with_gradviz else [clock]
    Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks).train()
    return [b - a for a, b in zip(clock.stamps, clock.stamps[1:], strict=False)]


def lightning_arm(with_gradviz: bool, steps: int, workdir: Path) -> list[float]:
    import lightning.pytorch as pl

    from gradviz.integrations.lightning import GradvizCallback

    class Clock(pl.Callback):
        def __init__(self) -> None:
            self.stamps = [0.0]

        def on_train_start(self, *a):
            self.stamps = [time.perf_counter()]

        def on_train_batch_end(self, *a):
            self.stamps.append(time.perf_counter())

    class MLP(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                     nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))  # fmt: skip

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=1e-3)

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    ds = torch.utils.data.TensorDataset(
        torch.randn(64 * steps, 64, generator=g), torch.randint(10, (64 * steps,))
    )
    clock = Clock()
    callbacks = [clock, GradvizCallback()] if with_gradviz else [clock]
    pl.Trainer(
        accelerator="cpu", max_steps=steps, callbacks=callbacks, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(workdir),
    ).fit(MLP(), torch.utils.data.DataLoader(ds, batch_size=64))  # fmt: skip
    return [b - a for a, b in zip(clock.stamps, clock.stamps[1:], strict=False)]


ARMS = {"transformers": transformers_arm, "lightning": lightning_arm}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--framework", choices=[*ARMS, "all"], default="all")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    ns = parser.parse_args()
    torch.set_num_threads(ns.threads)
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "transformers", "gradviz"):
        logging.getLogger(name).setLevel(logging.ERROR)
    frameworks = list(ARMS) if ns.framework == "all" else [ns.framework]
    print(f"{'framework':<13} {'plain ms/step':>14} {'gradviz ms/step':>16} {'ratio':>7} {'+µs/step':>9}"
          f" {'1st step plain ms':>18} {'1st step gradviz ms':>20}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for framework in frameworks:
            times: dict[bool, list[list[float]]] = {False: [], True: []}
            for r in range(ns.rounds):
                order = [False, True]
                random.Random(r).shuffle(order)
                for arm in order:
                    workdir = Path(tmp) / f"{framework}-{r}-{int(arm)}"
                    times[arm].append(ARMS[framework](arm, ns.steps, workdir))
            steady = {
                arm: statistics.median(t for run in runs for t in run[1:]) for arm, runs in times.items()
            }
            first = {arm: statistics.median(run[0] for run in runs) for arm, runs in times.items()}
            print(
                f"{framework:<13} {steady[False] * 1e3:>14.2f} {steady[True] * 1e3:>16.2f} "
                f"{steady[True] / steady[False]:>7.3f} {(steady[True] - steady[False]) * 1e6:>9.0f} "
                f"{first[False] * 1e3:>18.1f} {first[True] * 1e3:>20.1f}"
            )


if __name__ == "__main__":
    main()
