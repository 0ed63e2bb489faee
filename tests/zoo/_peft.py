"""LoRA (peft) on a frozen base, with and without gradient checkpointing (reentrant and not).

The classic trap: reentrant checkpointing runs each layer under ``torch.utils.checkpoint`` whose inputs (the
embeddings of a frozen base) do not require grad, so the LoRA weights inside get no gradient at all, unless
``model.enable_input_require_grads()`` makes the embedding output require grad. transformers 5 does that by
itself for text models (``main_input_name == "input_ids"``), and peft does it when checkpointing is on before
``get_peft_model``; a vision model whose checkpointing is switched on after wrapping still falls into it.
"""

from __future__ import annotations

import peft
import transformers as tf
from torch import nn

from ._case import Case, ids, lm_labels
from ._decoders import LLAMA_LIKE, lm_batch
from ._encoders import BERT_LIKE, VOCAB, cls_batch
from ._vision import VIT_LIKE, image_batch

REENTRANT_WARNING = r"None of the inputs have requires_grad=True"
# peft 0.21 still calls transformers' deprecated alias; a library's own deprecation, nothing the user does.
PEFT_DEPRECATION = r"`is_gradient_checkpointing` is deprecated"


def lora_llama(checkpointing: str | None = None, fix_inputs: bool = False) -> nn.Module:
    base = tf.LlamaForCausalLM(tf.LlamaConfig(**LLAMA_LIKE))
    if checkpointing is not None:
        base.activation_checkpointing_enable({"use_reentrant": checkpointing == "reentrant"})
    if fix_inputs:
        base.enable_input_require_grads()
    config = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.1, task_type="CAUSAL_LM"
    )
    return peft.get_peft_model(base, config)


def lora_vit(fix_inputs: bool = False) -> nn.Module:
    """Checkpointing switched on after ``get_peft_model`` (as a training script's flag does it)."""
    base = tf.ViTForImageClassification(tf.ViTConfig(**VIT_LIKE, num_labels=3))
    config = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], modules_to_save=["classifier"]
    )
    model = peft.get_peft_model(base, config)
    model.activation_checkpointing_enable({"use_reentrant": True})
    if fix_inputs:
        model.enable_input_require_grads()
    return model


def lora_bert_classifier() -> nn.Module:
    base = tf.BertForSequenceClassification(tf.BertConfig(**BERT_LIKE, num_labels=3))
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], task_type="SEQ_CLS")
    return peft.get_peft_model(base, config)  # SEQ_CLS also trains a copy of the classifier (modules_to_save)


def lora_gpt2() -> nn.Module:
    base = tf.GPT2LMHeadModel(
        tf.GPT2Config(
            vocab_size=VOCAB,
            n_positions=64,
            n_embd=32,
            n_layer=2,
            n_head=2,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
        )
    )
    config = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True, task_type="CAUSAL_LM"
    )
    return peft.get_peft_model(base, config)


def gpt2_batch(model: nn.Module) -> dict:
    x = ids(8, VOCAB)
    return {"input_ids": x, "labels": x}


def lora(name: str, build, batch=lm_batch, **kw) -> Case:
    ignore = (PEFT_DEPRECATION, *kw.pop("ignore_warnings", ()))
    return Case(name, build, batch, lm_labels, group="peft", ignore_warnings=ignore, **kw)


def cases() -> list[Case]:
    # lora_B starts at zero, so on the very first step lora_A's gradient is exactly zero (a true `zero`);
    # the cases with one earlier step (warmup_steps=1) train LoRA weights that are no longer zero.
    after_one_step = {"warmup_steps": 1}
    return [
        lora(
            "lora-llama-first-step",
            lora_llama,
            shows=(("zero", "lora_A"), ("all-finite", "lora_B"), ("none", "base_layer")),
        ),
        # transformers makes the embedding output require grad for a text model: the LoRA weights learn.
        lora(
            "lora-llama-ckpt-reentrant",
            lambda: lora_llama("reentrant"),
            **after_one_step,
            shows=(("all-finite", "lora_"),),
        ),
        lora(
            "lora-llama-ckpt-nonreentrant",
            lambda: lora_llama("non-reentrant"),
            **after_one_step,
            shows=(("all-finite", "lora_"),),
        ),
        # Broken: a ViT, reentrant checkpointing switched on after wrapping, pixel inputs that do not
        # require grad.
        lora(
            "lora-vit-ckpt-reentrant-broken",
            lora_vit,
            batch=image_batch,
            **after_one_step,
            shows=(("none", "lora_A"), ("all-finite", "modules_to_save")),
            causes=(("lora_", "checkpoint"),),
            ignore_warnings=(REENTRANT_WARNING,),
        ),
        # Fixed: enable_input_require_grads() before training.
        lora(
            "lora-vit-ckpt-reentrant-fixed",
            lambda: lora_vit(fix_inputs=True),
            batch=image_batch,
            **after_one_step,
            shows=(("all-finite", "lora_"),),
        ),
        lora(
            "lora-bert-seqcls-modules_to_save",
            lora_bert_classifier,
            batch=cls_batch,
            **after_one_step,
            shows=(("all-finite", "lora_"), ("all-finite", "modules_to_save")),
        ),
        lora("lora-gpt2-conv1d-first-step", lora_gpt2, batch=gpt2_batch, shows=(("zero", "lora_A"),)),
    ]
