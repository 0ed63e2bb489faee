"""Vision-language models (transformers): LLaVA, PaliGemma, SigLIP, BLIP-2, and CLAP (audio-text).

LLaVA feeds the language model the *second-to-last* layer of its vision tower (``vision_feature_layer=-2``):
the tower's last layer and its post-layernorm never reach the loss, a true ``unused`` in a popular model.
"""

from __future__ import annotations

import torch
import transformers as tf
from torch import nn

from ._case import Case, lm_labels
from ._decoders import LLAMA_LIKE, VOCAB
from ._vision import IMAGE, VIT_LIKE

IMAGE_TOKEN = VOCAB - 1
PATCHES = (IMAGE // VIT_LIKE["patch_size"]) ** 2
CLIP_VISION = {**VIT_LIKE, "projection_dim": 16}
TEXT_HEAD = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}


def image_text_batch(model: nn.Module) -> dict:
    text = torch.randint(4, IMAGE_TOKEN, (2, 6))
    image = torch.full((2, PATCHES), IMAGE_TOKEN)
    input_ids = torch.cat([image, text], dim=1)
    labels = torch.cat([torch.full_like(image, -100), text], dim=1)
    return {"input_ids": input_ids, "pixel_values": torch.randn(2, 3, IMAGE, IMAGE), "labels": labels}


def paligemma_batch(model: nn.Module) -> dict:
    batch = image_text_batch(model)
    batch["token_type_ids"] = (batch["labels"] != -100).long()  # prefix (image) 0, suffix (text) 1
    return batch


def contrastive_batch(model: nn.Module) -> dict:
    return {
        "pixel_values": torch.randn(2, 3, IMAGE, IMAGE),
        "input_ids": torch.randint(4, 64, (2, 7)),
        "return_loss": True,
    }


def clap_batch(model: nn.Module) -> dict:
    cfg = model.config.audio_config
    return {
        "input_features": torch.randn(2, 1, cfg.spec_size, cfg.num_mel_bins),
        "input_ids": torch.randint(4, 64, (2, 7)),
        "return_loss": True,
    }


def blip2_batch(model: nn.Module) -> dict:
    text = torch.randint(4, IMAGE_TOKEN, (2, 6))
    query = torch.full((2, model.config.num_query_tokens), IMAGE_TOKEN)
    return {
        "input_ids": torch.cat([query, text], dim=1),
        "pixel_values": torch.randn(2, 3, IMAGE, IMAGE),
        "labels": torch.cat([torch.full_like(query, -100), text], dim=1),
    }


def siglip_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    """SigLIP's pairwise sigmoid loss on the model's logits (its forward returns no loss)."""
    logits = model(pixel_values=batch["pixel_values"], input_ids=batch["input_ids"]).logits_per_text
    labels = 2 * torch.eye(logits.shape[0]) - 1
    return -nn.functional.logsigmoid(labels * logits).sum() / logits.shape[0]


def mm(name: str, build, batch, loss=lm_labels, **kw) -> Case:
    return Case(name, build, batch, loss, group="multimodal", **kw)


def cases() -> list[Case]:
    text = tf.LlamaConfig(**LLAMA_LIKE)
    llava = tf.LlavaConfig(
        vision_config=tf.CLIPVisionConfig(**CLIP_VISION),
        text_config=text,
        image_token_index=IMAGE_TOKEN,
        image_seq_length=PATCHES,
    )
    paligemma = tf.PaliGemmaConfig(
        vision_config=tf.SiglipVisionConfig(**VIT_LIKE),
        text_config=tf.GemmaConfig(**LLAMA_LIKE, head_dim=8),
        image_token_index=IMAGE_TOKEN,
        projection_dim=32,
        hidden_size=32,
        vocab_size=VOCAB,
    )
    siglip = tf.SiglipConfig(
        text_config={
            "vocab_size": 64,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 16,
            **TEXT_HEAD,
        },
        vision_config={**VIT_LIKE},
    )
    blip2 = tf.Blip2Config(
        vision_config={**VIT_LIKE},
        text_config=tf.OPTConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            ffn_dim=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            word_embed_proj_dim=32,
            max_position_embeddings=64,
            **TEXT_HEAD,
        ).to_dict(),
        qformer_config={
            "vocab_size": VOCAB,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 64,
            "encoder_hidden_size": 32,
            "cross_attention_frequency": 1,
        },
        num_query_tokens=4,
        image_token_index=IMAGE_TOKEN,
    )
    clap = tf.ClapConfig(
        text_config={
            "vocab_size": 64,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 64,
            "max_position_embeddings": 32,
            "projection_dim": 16,
            **TEXT_HEAD,
        },
        audio_config={
            "spec_size": 16,
            "num_mel_bins": 16,
            "window_size": 2,
            "patch_size": 4,
            "patch_stride": 4,
            "hidden_size": 32,
            "patch_embeds_hidden_size": 16,
            "depths": [1, 1],
            "num_attention_heads": [2, 2],
            "projection_dim": 16,
            "enable_fusion": False,
        },
        projection_dim=16,
    )
    return [
        mm(
            "llava",
            lambda: tf.LlavaForConditionalGeneration(llava),
            image_text_batch,
            shows=(("none", "vision_tower.encoder.layers.1."),),
            causes=(("vision_tower", "unused"),),
        ),
        # PaliGemma reads SigLIP's patch tokens, not its attention-pooling head: the head is unused.
        mm(
            "paligemma",
            lambda: tf.PaliGemmaForConditionalGeneration(paligemma),
            paligemma_batch,
            shows=(("none", "vision_tower.head."),),
            causes=(("vision_tower.head.", "unused"),),
        ),
        mm("siglip-contrastive", lambda: tf.SiglipModel(siglip), contrastive_batch, loss=siglip_loss),
        mm("blip2-opt", lambda: tf.Blip2ForConditionalGeneration(blip2), blip2_batch),
        mm("clap-contrastive", lambda: tf.ClapModel(clap), clap_batch),
    ]
