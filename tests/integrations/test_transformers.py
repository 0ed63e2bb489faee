"""GradvizCallback inside a real transformers.Trainer: tiny random-init models built from configs, CPU.

Every expected verdict and every recorded gradient is checked against plain torch: a probe callback reads
``.grad`` of the same model at the same step (after all micro-batches, before the update).
"""

from __future__ import annotations

import logging
import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

import gradviz
from gradviz import Cause
from gradviz.integrations.transformers import GradvizCallback

from _truth import expected_cause, optimizer_ids, read_grads

pytestmark = [pytest.mark.integrations, pytest.mark.slow]


def tiny_config(**kw) -> LlamaConfig:
    base = {
        "vocab_size": 64,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32,
        "pad_token_id": 0,
    }
    return LlamaConfig(**{**base, **kw})


def lm(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(tiny_config())


def lm_data(n: int = 16) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    return [{"input_ids": ids, "labels": ids} for ids in torch.randint(1, 64, (n, 8), generator=g)]


def cls_data(n: int = 16) -> list[dict]:
    g = torch.Generator().manual_seed(2)
    ids, labels = torch.randint(1, 64, (n, 8), generator=g), torch.randint(2, (n,), generator=g)
    return [{"input_ids": i, "labels": y} for i, y in zip(ids, labels, strict=True)]


def args(tmp_path, **kw) -> TrainingArguments:
    base = {
        "output_dir": str(tmp_path / "out"),
        "max_steps": 4,
        "per_device_train_batch_size": 2,
        "report_to": "none",
        "use_cpu": True,
        "save_strategy": "no",
        "logging_strategy": "no",
        "disable_tqdm": True,
        "seed": 0,
    }
    return TrainingArguments(**{**base, **kw})


class Probe(TrainerCallback):
    """Plain torch: each parameter's gradient at every optimizer step, before the update."""

    def __init__(self) -> None:
        self.steps: list[dict[str, tuple[str, float]]] = []
        self.first_causes: dict[str, Cause | None] = {}

    def on_pre_optimizer_step(self, args, state, control, model=None, optimizer=None, **kw):
        self.steps.append(read_grads(model))
        if len(self.steps) == 1:
            held = optimizer_ids([optimizer.optimizer if hasattr(optimizer, "optimizer") else optimizer])
            self.first_causes = {n: expected_cause(p, id(p) in held) for n, p in model.named_parameters()}


def assert_history_matches(history: gradviz.History, probe: Probe) -> None:
    assert history.steps.tolist() == list(range(len(probe.steps)))
    for row, truth in enumerate(probe.steps):
        for name, (state, norm) in truth.items():
            col = history.index(name)
            assert gradviz.GradState(history.state[row, col]).name == state, (row, name)
            if not math.isnan(norm):
                assert history.grad_norm[row, col] == pytest.approx(norm, rel=1e-5), (row, name)


def assert_verdicts_match(t: gradviz.Trace, probe: Probe) -> None:
    for name, cause in probe.first_causes.items():
        if cause is not None:
            assert t.verdicts[name].cause is cause, (name, t.verdicts[name])


def gradviz_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gradviz" and r.levelno >= logging.WARNING]


def test_healthy_lm_with_accumulation_records_every_step_as_torch_sees_it(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="gradviz")
    cb, probe = GradvizCallback(weights_every=2), Probe()
    model = lm()
    trainer = Trainer(
        model=model,
        args=args(tmp_path, gradient_accumulation_steps=2),
        train_dataset=lm_data(),
        callbacks=[probe, cb],
    )
    trainer.train()

    history = cb.monitor.history
    assert len(probe.steps) == 4 and len(history) == 4  # 8 micro-batches, 4 optimizer steps
    assert_history_matches(history, probe)
    assert np.isfinite(history.update_ratio[[0, 2]]).all() and np.isnan(history.update_ratio[[1, 3]]).all()
    assert_verdicts_match(cb.trace, probe)
    assert all(v.ok for v in cb.trace.verdicts.values())
    assert cb.trace.capture.backward_calls == 2  # both micro-batches of the first step were traced
    assert cb.findings == {} and gradviz_warnings(caplog) == []
    assert any("first training step traced" in r.getMessage() for r in caplog.records)
    assert cb.monitor.closed

    # the crash-safe record, readable by gradviz.open, and the first step's report and page
    assert cb.log_dir == tmp_path / "out" / "gradviz" / "run-1"
    run = gradviz.open(cb.log_dir)
    np.testing.assert_array_equal(run.history.grad_norm, history.grad_norm)
    assert "all learn" in (cb.log_dir / "first_step.txt").read_text()
    assert (cb.log_dir / "first_step.html").stat().st_size > 10_000


def test_training_is_bitwise_identical_with_and_without_the_callback(tmp_path) -> None:
    finals = []
    for callbacks in ([], [GradvizCallback(weights_every=1)]):
        model = lm()
        Trainer(
            model=model,
            args=args(tmp_path, gradient_accumulation_steps=2),
            train_dataset=lm_data(),
            callbacks=callbacks,
        ).train()
        finals.append({k: v.clone() for k, v in model.state_dict().items()})
    for key, value in finals[0].items():
        assert torch.equal(value, finals[1][key]), key


def test_a_head_left_out_of_the_optimizer_is_reported_after_the_first_step(tmp_path, caplog) -> None:
    model = lm()
    body = [p for n, p in model.named_parameters() if not n.startswith("lm_head")]
    opt = torch.optim.AdamW(body, lr=1e-3)
    head_before = model.lm_head.weight.detach().clone()
    cb, probe = GradvizCallback(), Probe()
    Trainer(
        model=model,
        args=args(tmp_path),
        train_dataset=lm_data(),
        optimizers=(opt, None),
        callbacks=[probe, cb],
    ).train()

    assert probe.first_causes["lm_head.weight"] is Cause.not_in_optimizer  # torch: a gradient, no group
    assert torch.equal(model.lm_head.weight, head_before)  # and indeed it never changed
    assert set(cb.findings) == {"lm_head.weight"}
    assert cb.findings["lm_head.weight"].cause is Cause.not_in_optimizer
    assert_verdicts_match(cb.trace, probe)
    (message,) = gradviz_warnings(caplog)
    assert "lm_head.weight" in message and "not_in_optimizer" in message and "will not learn" in message
    assert_history_matches(cb.monitor.history, probe)


def _lora_classifier(tmp_path, *, trainable: bool):
    """A tiny Llama classifier with a LoRA adapter. ``trainable=False`` reproduces a common mistake: the
    adapter saved, then loaded back for more training without ``is_trainable=True`` (so it is frozen),
    with only the classification head unfrozen by hand."""
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    base = LlamaForSequenceClassification(tiny_config(num_labels=2))
    config = peft.LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    model = peft.get_peft_model(base, config)
    if trainable:
        return model
    model.save_pretrained(tmp_path / "adapter")
    torch.manual_seed(0)
    fresh = LlamaForSequenceClassification(tiny_config(num_labels=2))
    model = peft.PeftModel.from_pretrained(fresh, tmp_path / "adapter")  # is_trainable defaults to False
    for name, p in model.named_parameters():
        if "modules_to_save" in name:
            p.requires_grad_(True)
    return model


def test_a_frozen_lora_adapter_is_reported_and_the_frozen_base_is_not(tmp_path, caplog) -> None:
    model = _lora_classifier(tmp_path, trainable=False)
    lora = {n for n, _ in model.named_parameters() if "lora_" in n}
    assert lora and not any(p.requires_grad for n, p in model.named_parameters() if n in lora)
    cb, probe = GradvizCallback(), Probe()
    Trainer(model=model, args=args(tmp_path), train_dataset=cls_data(), callbacks=[probe, cb]).train()

    frozen = {n for n, c in probe.first_causes.items() if c is Cause.frozen}
    assert lora < frozen  # torch: the adapter and the base are both frozen
    assert set(cb.findings) == lora  # only the adapter is reported: the base is frozen on purpose
    assert all(v.cause is Cause.frozen for v in cb.findings.values())
    assert_verdicts_match(cb.trace, probe)
    (message,) = gradviz_warnings(caplog)
    assert f"{len(lora)} parameters" in message and "lora_A" in message and "frozen" in message


def test_a_healthy_lora_is_not_reported_though_lora_a_starts_with_a_zero_gradient(tmp_path, caplog) -> None:
    model = _lora_classifier(tmp_path, trainable=True)
    cb, probe = GradvizCallback(recheck_steps=3), Probe()
    Trainer(model=model, args=args(tmp_path), train_dataset=cls_data(), callbacks=[probe, cb]).train()

    lora_a = [n for n in probe.first_causes if "lora_A" in n]
    assert lora_a and all(probe.first_causes[n] is Cause.zero for n in lora_a)  # lora_B starts at zero
    assert all(cb.trace.verdicts[n].cause is Cause.zero for n in lora_a)
    assert all(probe.steps[1][n][0] == "finite" for n in lora_a)  # once lora_B moved, they learn
    assert cb.findings == {} and gradviz_warnings(caplog) == []
    assert_history_matches(cb.monitor.history, probe)


def test_a_gradient_that_stays_zero_is_reported_after_recheck_steps(tmp_path, caplog) -> None:
    class RoundedHead(nn.Module):
        """``round()`` has a zero derivative everywhere: the body never gets a non-zero gradient."""

        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(8, 8)
            self.head = nn.Linear(8, 1)

        def forward(self, x, labels):
            out = self.head(torch.round(self.body(x))).squeeze(-1)
            return {"loss": nn.functional.mse_loss(out, labels)}

    torch.manual_seed(0)
    model = RoundedHead()
    data = [{"x": x, "labels": y} for x, y in zip(torch.randn(16, 8), torch.randn(16), strict=True)]
    cb, probe = GradvizCallback(recheck_steps=3), Probe()
    Trainer(model=model, args=args(tmp_path), train_dataset=data, callbacks=[probe, cb]).train()

    zero = {n for n in probe.first_causes if all(step[n][0] == "zero" for step in probe.steps)}
    assert zero == {"body.weight", "body.bias"}
    assert set(cb.findings) == zero and all(v.cause is Cause.zero for v in cb.findings.values())
    (message,) = gradviz_warnings(caplog)
    assert "zero gradient on every step" in message


def test_bf16_autocast_on_cpu(tmp_path) -> None:
    cb, probe = GradvizCallback(), Probe()
    trainer = Trainer(
        model=lm(), args=args(tmp_path, bf16=True), train_dataset=lm_data(), callbacks=[probe, cb]
    )
    trainer.train()
    assert trainer.accelerator.mixed_precision == "bf16"
    assert_history_matches(cb.monitor.history, probe)
    assert_verdicts_match(cb.trace, probe)
    assert all(v.ok for v in cb.trace.verdicts.values())


class InPlace(nn.Module):
    """``h.mul_(2)`` on a sigmoid's output, which its backward needs: backward raises."""

    def __init__(self, where: str) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.where = where

    def forward(self, x, labels):
        if self.where == "forward":
            self.lin.weight.add_(1.0)  # in-place on a leaf that requires grad: raises here
        h = self.lin(x).sigmoid()
        h.mul_(2)
        return {"loss": nn.functional.mse_loss(h, labels)}


def _inplace_data() -> list[dict]:
    return [{"x": x, "labels": y} for x, y in zip(torch.randn(8, 4), torch.randn(8, 4), strict=True)]


def test_a_forward_that_raises_ends_the_trace_and_carries_the_note(tmp_path) -> None:
    cb = GradvizCallback()
    trainer = Trainer(
        model=InPlace("forward"), args=args(tmp_path), train_dataset=_inplace_data(), callbacks=[cb]
    )
    with pytest.raises(RuntimeError, match="leaf Variable") as info:
        trainer.train()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "gradviz" in notes and "test_transformers.py" in notes
    assert cb.findings["lin.weight"].cause is Cause.error
    cb.close()  # the monitor is left for the user to close after a raise (train_end never came)


def test_a_backward_that_raises_is_ended_by_the_excepthook_with_the_note(tmp_path) -> None:
    cb = GradvizCallback()
    trainer = Trainer(
        model=InPlace("backward"), args=args(tmp_path), train_dataset=_inplace_data(), callbacks=[cb]
    )
    hook = sys.excepthook
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as info:
        trainer.train()
    assert sys.excepthook is not hook  # the safety net is installed while the trace is open
    sys.excepthook(info.type, info.value, info.tb)  # what Python does with an uncaught exception
    assert sys.excepthook is hook  # and removed once it ended the trace
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "h.mul_(2)" in notes
    assert cb.findings["lin.weight"].cause is Cause.error
    cb.close()


def test_a_second_train_closes_a_trace_the_first_left_open(tmp_path) -> None:
    healthy, model = GradvizCallback(), lm()
    cb = GradvizCallback()
    trainer = Trainer(
        model=InPlace("backward"), args=args(tmp_path), train_dataset=_inplace_data(), callbacks=[cb]
    )
    with pytest.raises(RuntimeError):
        trainer.train()
    Trainer(
        model=model, args=args(tmp_path, max_steps=1), train_dataset=lm_data(), callbacks=[healthy]
    ).train()
    assert cb.trace is not None and healthy.trace is not None and healthy.findings == {}
    cb.close()


def test_in_a_notebook_a_step_that_raised_is_closed_after_the_cell(tmp_path, monkeypatch) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    # InteractiveShell replaces sys.modules["__main__"] (multiprocessing's spawn reads it later) and hooks
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    monkeypatch.setattr(sys, "displayhook", sys.displayhook)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)

    shell = InteractiveShell.instance()
    try:
        shell.user_ns.update(
            Trainer=Trainer, GradvizCallback=GradvizCallback, InPlace=InPlace, data=_inplace_data(),
            targs=args(tmp_path),
        )  # fmt: skip
        cell = "cb = GradvizCallback()\nTrainer(model=InPlace('backward'), args=targs, train_dataset=data, "
        cell += "callbacks=[cb]).train()\n"
        result = shell.run_cell(cell, store_history=True)
        assert not result.success  # the traceback was shown; then post_run_cell ended the trace
        cb = shell.user_ns["cb"]
        assert cb.findings["lin.weight"].cause is Cause.error
        assert "h.mul_(2)" in cb.findings["lin.weight"].message
        cb.close()
    finally:
        shell.reset()
        InteractiveShell.clear_instance()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_a_compiled_trainer_trains_with_the_callback_as_without(tmp_path) -> None:
    """Trainer(torch_compile=True): the callback never breaks a run that trains without it, and training
    stays bitwise identical (NOTE [invisible to torch.compile] in gradviz/capture/_tracer.py)."""
    finals, probes = [], []
    for callbacks in ([], [GradvizCallback(weights_every=1)]):
        torch._dynamo.reset()
        model = lm()
        probe = Probe()
        Trainer(
            model=model,
            args=args(tmp_path, torch_compile=True, torch_compile_backend="aot_eager", max_steps=2),
            train_dataset=lm_data(),
            callbacks=[*callbacks, probe],
        ).train()
        finals.append({k: v.clone() for k, v in model.state_dict().items()})
        probes.append((probe, callbacks[0] if callbacks else None))
    for key, value in finals[0].items():
        assert torch.equal(value, finals[1][key]), key
    probe, cb = probes[1]
    assert_history_matches(cb.monitor.history, probe)
    assert all(v.cause == "ok" for v in cb.trace.verdicts.values() if v.name in probe.first_causes)
