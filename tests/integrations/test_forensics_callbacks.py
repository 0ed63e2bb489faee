"""NaN forensics under the training callbacks: ``GradvizCallback(forensics=True)`` of transformers and of
Lightning replays the first optimizer step whose gradient is NaN/Inf before the update.

The done-when's runs: the 12-layer GPT whose attention row is masked entirely (NaN born in the forward's
softmax) and one whose loss takes the log of a negative count. Truth from plain torch on the same run: a
probe callback reads ``.grad`` at the same pre-optimizer-step event and says which step first held a NaN.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from test_watch_forensics import _PaddedGPT, gpt12_batches

pytestmark = [pytest.mark.integrations, pytest.mark.slow]

STEPS, EMPTY_AT = 62, 60


def _first_bad(model: nn.Module) -> bool:
    return any(p.grad is not None and not torch.isfinite(p.grad).all() for p in model.parameters())


def _line(function, text: str) -> int:
    lines, start = inspect.getsourcelines(function)
    return start + next(i for i, line in enumerate(lines) if text in line)


# -- transformers ------------------------------------------------------------------------------------------


class _HFGPT(nn.Module):
    """The padded GPT-12 as a Trainer model: the loss is computed in forward (as Hugging Face models do);
    ``count``: each sequence's weight, the log of which scales its loss."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.gpt = _PaddedGPT()

    def forward(self, input_ids, keep, count=None):
        logits = self.gpt(input_ids[:, :-1], keep=keep)
        ce = F.cross_entropy(logits.transpose(1, 2), input_ids[:, 1:], reduction="none").mean(-1)
        if count is not None:
            ce = ce * torch.log(count)  # a count of -1: log of a negative, NaN
        return {"loss": ce.mean()}


class _Batches(torch.utils.data.Dataset):
    """Each item is a whole batch (the Trainer's batch size is 1): the order of steps is the data's."""

    def __init__(self, counts: torch.Tensor | None = None) -> None:
        self.items = gpt12_batches(STEPS, EMPTY_AT if counts is None else -1)
        self.counts = counts

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        idx, keep = self.items[i]
        item = {"input_ids": idx, "keep": keep}
        if self.counts is not None:
            item["count"] = self.counts[i]
        return item


def _counts(bad_at: int) -> torch.Tensor:
    counts = torch.full((STEPS, 4), 3.0)
    counts[bad_at, 1] = -1.0
    return counts


def _train_hf(tmp_path, dataset, forensics: bool = True):
    tf = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from gradviz.integrations.transformers import GradvizCallback

    firsts: list[int] = []

    class Probe(tf.TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            if not firsts and _first_bad(model):
                firsts.append(state.global_step)

    model = _HFGPT()
    callback = GradvizCallback(forensics=forensics, log_dir=None, trace_first_step=False)
    args = tf.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=STEPS,
        per_device_train_batch_size=1,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        seed=0,
        learning_rate=1e-3,
    )
    trainer = tf.Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=lambda items: dict(items[0]),
        callbacks=[callback, Probe()],
    )
    trainer.train()
    return callback, firsts


def test_the_trainer_callback_replays_the_masked_row_at_its_softmax(tmp_path) -> None:
    callback, firsts = _train_hf(tmp_path, _Batches())
    f = callback.monitor.first_nonfinite
    assert firsts and f is not None and f.step == firsts[0], (firsts, f)
    births = f.trace.capture.births
    assert births and (births[0].phase, births[0].op_name) == ("forward", "softmax"), births
    from test_watch_forensics import _Attn

    assert births[0].site.line == _line(_Attn.forward, "F.softmax(att")
    assert not f.from_loss


def test_the_trainer_callback_replays_a_log_of_a_negative_in_the_models_loss(tmp_path) -> None:
    bad_at = 45
    callback, firsts = _train_hf(tmp_path, _Batches(_counts(bad_at)))
    f = callback.monitor.first_nonfinite
    assert firsts and f is not None and f.step == firsts[0], (firsts, f)
    births = f.trace.capture.births
    assert births and births[0].op_name == "log" and births[0].phase == "forward", births
    assert births[0].site.line == _line(_HFGPT.forward, "torch.log(count)")


def test_without_forensics_the_trainer_callback_says_how_to_arm_it(tmp_path) -> None:
    callback, firsts = _train_hf(tmp_path, _Batches(), forensics=False)
    f = callback.monitor.first_nonfinite
    assert firsts and f is not None and f.trace is None and "forensics=True" in f.reason


# -- Lightning ---------------------------------------------------------------------------------------------


def _fit_lightning(tmp_path, counts: torch.Tensor | None):
    pl = pytest.importorskip("lightning.pytorch")
    from gradviz.integrations.lightning import GradvizCallback

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.gpt = _PaddedGPT()

        def forward(self, idx, keep):
            return self.gpt(idx, keep=keep)

        def training_step(self, batch, batch_idx):
            idx, keep, count = batch["input_ids"], batch["keep"], batch.get("count")
            logits = self(idx[:, :-1], keep)
            ce = F.cross_entropy(logits.transpose(1, 2), idx[:, 1:], reduction="none").mean(-1)
            if count is not None:
                ce = ce * torch.log(count)  # the loss, outside the model's forward
            return ce.mean()

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=1e-3)

    firsts: list[int] = []

    class Probe(pl.Callback):
        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            if not firsts and _first_bad(pl_module):
                firsts.append(trainer.global_step)

    callback = GradvizCallback(forensics=True, log_dir=None, trace_first_step=False)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=STEPS,
        callbacks=[callback, Probe()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    loader = torch.utils.data.DataLoader(_Batches(counts), batch_size=None)
    trainer.fit(Module(), loader)
    return callback, firsts


@pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated")
@pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")
def test_the_lightning_callback_replays_the_masked_row_at_its_softmax(tmp_path) -> None:
    callback, firsts = _fit_lightning(tmp_path, None)
    f = callback.monitor.first_nonfinite
    assert firsts and f is not None and f.step == firsts[0], (firsts, f)
    births = f.trace.capture.births
    assert births and (births[0].phase, births[0].op_name) == ("forward", "softmax"), births


@pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated")
@pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")
def test_the_lightning_callback_says_a_nan_from_training_step_came_from_the_loss(tmp_path) -> None:
    callback, firsts = _fit_lightning(tmp_path, _counts(45))
    f = callback.monitor.first_nonfinite
    assert firsts and f is not None and f.step == firsts[0], (firsts, f)
    assert f.from_loss and "the loss" in f.birth()
