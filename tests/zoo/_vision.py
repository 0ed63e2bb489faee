"""Vision models (transformers): classifiers, self-supervised pre-training (MAE), contrastive (CLIP, SigLIP),
segmentation, from tiny configs."""

from __future__ import annotations

import torch
import transformers as tf
from torch import nn
from torch.nn import functional as F

from ._case import Case, ids, lm_labels

IMAGE = 32
VIT_LIKE = {
    "image_size": IMAGE,
    "patch_size": 8,
    "num_channels": 3,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
}


def image_batch(model: nn.Module) -> dict:
    return {"pixel_values": torch.randn(2, 3, IMAGE, IMAGE), "labels": torch.randint(0, 3, (2,))}


def pixels_only(model: nn.Module) -> dict:
    return {"pixel_values": torch.randn(2, 3, IMAGE, IMAGE)}


def deit_both_heads(model: nn.Module, batch: dict) -> torch.Tensor:
    """DeiT's distilled model returns both heads' logits; train both against the labels (no teacher here)."""
    out = model(pixel_values=batch["pixel_values"])
    return F.cross_entropy(out.cls_logits, batch["labels"]) + F.cross_entropy(
        out.distillation_logits, batch["labels"]
    )


def clip_batch(model: nn.Module) -> dict:
    return {"pixel_values": torch.randn(2, 3, IMAGE, IMAGE), "input_ids": ids(7, 64), "return_loss": True}


def segmentation_batch(model: nn.Module) -> dict:
    return {"pixel_values": torch.randn(2, 3, IMAGE, IMAGE), "labels": torch.randint(0, 3, (2, IMAGE, IMAGE))}


def vis(name: str, build, batch=image_batch, loss=lm_labels, **kw) -> Case:
    return Case(name, build, batch, loss, group="vision", **kw)


def cases() -> list[Case]:
    clip = tf.CLIPConfig(
        text_config={
            "vocab_size": 64,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 16,
            "pad_token_id": 0,
            "bos_token_id": 1,
            "eos_token_id": 2,
        },
        vision_config={**VIT_LIKE},
        projection_dim=16,
    )
    return [
        vis("vit-cls", lambda: tf.ViTForImageClassification(tf.ViTConfig(**VIT_LIKE, num_labels=3))),
        vis(
            "swin-cls",
            lambda: tf.SwinForImageClassification(
                tf.SwinConfig(
                    image_size=IMAGE,
                    patch_size=2,
                    embed_dim=16,
                    depths=[1, 1],
                    num_heads=[2, 2],
                    window_size=4,
                    num_labels=3,
                )
            ),
        ),
        vis(
            "convnext-cls",
            lambda: tf.ConvNextForImageClassification(
                tf.ConvNextConfig(
                    num_channels=3, num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], num_labels=3
                )
            ),
        ),
        vis(
            "resnet-cls",
            lambda: tf.ResNetForImageClassification(
                tf.ResNetConfig(
                    num_channels=3,
                    embedding_size=8,
                    hidden_sizes=[8, 16],
                    depths=[1, 1],
                    layer_type="basic",
                    num_labels=3,
                )
            ),
        ),
        vis(
            "dinov2-cls",
            lambda: tf.Dinov2ForImageClassification(
                tf.Dinov2Config(**{**VIT_LIKE, "patch_size": 4}, layerscale_value=1.0, num_labels=3)
            ),
        ),
        vis(
            "deit-distilled",
            lambda: tf.DeiTForImageClassificationWithTeacher(tf.DeiTConfig(**VIT_LIKE, num_labels=3)),
            loss=deit_both_heads,
        ),
        vis(
            "beit-cls",
            lambda: tf.BeitForImageClassification(
                tf.BeitConfig(
                    **VIT_LIKE,
                    use_relative_position_bias=True,
                    use_mean_pooling=True,
                    layer_scale_init_value=0.1,
                    num_labels=3,
                )
            ),
        ),
        vis(
            "swinv2-cls",
            lambda: tf.Swinv2ForImageClassification(
                tf.Swinv2Config(
                    image_size=IMAGE,
                    patch_size=2,
                    embed_dim=16,
                    depths=[1, 1],
                    num_heads=[2, 2],
                    window_size=4,
                    num_labels=3,
                )
            ),
        ),
        vis(
            "convnextv2-cls",
            lambda: tf.ConvNextV2ForImageClassification(
                tf.ConvNextV2Config(
                    num_channels=3, num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], num_labels=3
                )
            ),
        ),
        vis(
            "efficientnet-cls",
            lambda: tf.EfficientNetForImageClassification(
                tf.EfficientNetConfig(
                    image_size=IMAGE,
                    width_coefficient=0.25,
                    depth_coefficient=0.25,
                    hidden_dim=320,
                    num_labels=3,
                )
            ),
        ),
        vis(
            "mobilenet_v2-cls",
            lambda: tf.MobileNetV2ForImageClassification(
                tf.MobileNetV2Config(image_size=IMAGE, depth_multiplier=0.25, num_labels=3)
            ),
        ),
        vis(
            "mobilevit-cls",
            lambda: tf.MobileViTForImageClassification(
                tf.MobileViTConfig(
                    image_size=IMAGE,
                    patch_size=2,
                    hidden_sizes=[16, 24, 32],
                    neck_hidden_sizes=[8, 8, 16, 16, 24, 24, 48],
                    num_attention_heads=2,
                    num_labels=3,
                )
            ),
        ),
        vis(
            "regnet-cls",
            lambda: tf.RegNetForImageClassification(
                tf.RegNetConfig(
                    embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], groups_width=8, num_labels=3
                )
            ),
        ),
        vis(
            "levit-cls",
            lambda: tf.LevitForImageClassification(
                tf.LevitConfig(
                    image_size=IMAGE,
                    patch_size=16,
                    hidden_sizes=[16, 32, 48],
                    num_attention_heads=[1, 2, 3],
                    depths=[1, 1, 1],
                    key_dim=[8, 8, 8],
                    num_labels=3,
                )
            ),
        ),
        vis(
            "poolformer-cls",
            lambda: tf.PoolFormerForImageClassification(
                tf.PoolFormerConfig(
                    depths=[1, 1],
                    hidden_sizes=[8, 16],
                    patch_sizes=[7, 3],
                    strides=[4, 2],
                    padding=[2, 1],
                    num_encoder_blocks=2,
                    num_labels=3,
                )
            ),
        ),
        vis(
            "focalnet-cls",
            lambda: tf.FocalNetForImageClassification(
                tf.FocalNetConfig(
                    image_size=IMAGE,
                    patch_size=4,
                    embed_dim=16,
                    hidden_sizes=[16, 32],
                    depths=[1, 1],
                    num_labels=3,
                )
            ),
        ),
        # MAE masks 75% of the patches at random (torch.rand) and reconstructs them with its own decoder.
        vis(
            "vit_mae-pretraining",
            lambda: tf.ViTMAEForPreTraining(
                tf.ViTMAEConfig(
                    **VIT_LIKE,
                    decoder_hidden_size=16,
                    decoder_num_hidden_layers=1,
                    decoder_num_attention_heads=2,
                    decoder_intermediate_size=32,
                )
            ),
            batch=pixels_only,
        ),
        vis("clip-contrastive", lambda: tf.CLIPModel(clip), batch=clip_batch),
        vis(
            "segformer-seg",
            lambda: tf.SegformerForSemanticSegmentation(
                tf.SegformerConfig(
                    num_channels=3,
                    num_encoder_blocks=2,
                    depths=[1, 1],
                    sr_ratios=[2, 1],
                    hidden_sizes=[8, 16],
                    patch_sizes=[7, 3],
                    strides=[4, 2],
                    num_attention_heads=[1, 2],
                    mlp_ratios=[2, 2],
                    decoder_hidden_size=16,
                    num_labels=3,
                )
            ),
            batch=segmentation_batch,
        ),
    ]
