"""Mixed precision, and notebook sessions: models that trained a few steps before the traced one.

Precision: bf16 autocast; fp16 autocast with ``torch.amp.GradScaler("cpu")`` (supported by torch 2.13 on CPU);
fp16 weights with a static loss scale (``_case.MANUAL_LOSS_SCALE``), as older fp16 recipes do.

Sessions (issue 9, "stale gradients"): ``.grad`` left by the last training step (no ``zero_grad()`` before the
traced step, or ``zero_grad(set_to_none=False)``). The truth is what *this* backward delivered, so a
parameter the traced step does not reach must not come out ``ok`` (nor ``zero``) because of an old ``.grad``.
"""

from __future__ import annotations

import torch
import transformers as tf
from torch import nn
from torch.nn import functional as F

from ._case import Case, lm_labels
from ._decoders import LLAMA_LIKE, VOCAB, lm_batch
from ._encoders import BERT_LIKE, ClsTokenHead, cls_batch, cls_head_loss, seq2seq_batch
from ._moe import switch_config
from ._vision import VIT_LIKE, image_batch


def llama() -> nn.Module:
    return tf.LlamaForCausalLM(tf.LlamaConfig(**LLAMA_LIKE))


def vit() -> nn.Module:
    return tf.ViTForImageClassification(tf.ViTConfig(**VIT_LIKE, num_labels=3))


def gpt2() -> nn.Module:
    return tf.GPT2LMHeadModel(
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


def t5_bf16_weights() -> nn.Module:
    config = tf.T5Config(
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        vocab_size=VOCAB,
        pad_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
    )
    return tf.T5ForConditionalGeneration(config).to(torch.bfloat16)


def llama_fp16_weights() -> nn.Module:
    return llama().half()


def linear_probe(model: nn.Module, batch: dict) -> torch.Tensor:
    """Features from the (already fine-tuned) body under no_grad, only the classifier trains."""
    with torch.no_grad():
        features = model.vit(pixel_values=batch["pixel_values"]).last_hidden_state[:, 0]
    return F.cross_entropy(model.classifier(features), batch["labels"])


def pooler_head_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    """The earlier steps trained the head on the pooler's output; the traced step reads token 0."""
    return F.cross_entropy(
        model.head(model.encoder(input_ids=batch["input_ids"]).pooler_output), batch["labels"]
    )


def freeze_embeddings(model: nn.Module) -> None:
    model.transformer.wte.requires_grad_(False)
    model.transformer.wpe.requires_grad_(False)


def switch() -> nn.Module:
    return tf.SwitchTransformersForConditionalGeneration(switch_config())


def cases() -> list[Case]:
    return [
        Case("llama-bf16-autocast", llama, lm_batch, lm_labels, precision="bf16-autocast", group="precision"),
        Case("vit-bf16-autocast", vit, image_batch, lm_labels, precision="bf16-autocast", group="precision"),
        Case("t5-bf16-weights", t5_bf16_weights, seq2seq_batch, lm_labels, group="precision"),
        # GradScaler's first step (scale 65536) and a later one (the scale has backed off).
        Case(
            "gpt2-fp16-autocast-gradscaler",
            gpt2,
            lm_batch,
            lm_labels,
            precision="fp16-gradscaler",
            group="precision",
        ),
        Case(
            "bert-fp16-autocast-gradscaler-step4",
            lambda: tf.BertForSequenceClassification(tf.BertConfig(**BERT_LIKE, num_labels=3)),
            cls_batch,
            lm_labels,
            precision="fp16-gradscaler",
            warmup_steps=3,
            group="precision",
        ),
        # A scale that has grown to 2**20 (it doubles every 2000 clean steps): the fp16 backward overflows,
        # every gradient is Inf/NaN, and the scaler skips the step (a true `nonfinite`).
        Case(
            "llama-fp16-autocast-gradscaler-overflow",
            llama,
            lm_batch,
            lm_labels,
            precision="fp16-gradscaler",
            init_scale=2.0**20,
            shows=(("nonfinite", "model.layers.0."),),
            group="precision",
        ),
        Case(
            "llama-fp16-weights-loss-scale",
            llama_fp16_weights,
            lm_batch,
            lm_labels,
            precision="fp16-manual-scale",
            optimizer="sgd",
            group="precision",
        ),
        # Sessions.
        Case(
            "llama-accumulated-grad",
            llama,
            lm_batch,
            lm_labels,
            warmup_steps=2,
            session="accumulate",
            group="session",
        ),
        Case(
            "switch_transformers-moe-stale-experts",
            switch,
            seq2seq_batch,
            lm_labels,
            warmup_steps=2,
            session="accumulate",
            shows=(("stale-none", "experts.expert_"),),
            causes=(("experts.expert_", "unused"),),
            group="session",
        ),
        Case(
            "vit-linear-probe-after-finetune",
            vit,
            image_batch,
            linear_probe,
            warmup_loss=lm_labels,
            warmup_steps=2,
            session="zeros",
            shows=(("stale-none", "vit.layers"), ("all-finite", "classifier")),
            causes=(("vit.", "no_grad"),),
            group="session",
        ),
        Case(
            "bert-pooler-unused-after-zero_grad-false",
            lambda: ClsTokenHead(tf.BertModel(tf.BertConfig(**BERT_LIKE))),
            cls_batch,
            cls_head_loss,
            warmup_loss=pooler_head_loss,
            warmup_steps=2,
            session="zeros",
            shows=(("stale-none", "encoder.pooler."),),
            causes=(("pooler", "unused"),),
            group="session",
        ),
        Case(
            "gpt2-embeddings-frozen-after-warmup",
            gpt2,
            lm_batch,
            lm_labels,
            warmup_steps=2,
            then=freeze_embeddings,
            session="accumulate",
            shows=(("stale-none", "transformer.wte"),),
            causes=(("transformer.w", "frozen"),),
            group="session",
        ),
    ]
