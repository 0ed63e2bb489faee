"""Speech models (transformers): CTC encoders (Wav2Vec2, HuBERT, WavLM, Data2VecAudio, SEW), Whisper,
Speech2Text, the Audio Spectrogram Transformer."""

from __future__ import annotations

import torch
import transformers as tf
from torch import nn

from ._case import Case, lm_labels

SAMPLES = 1600
WAV2VEC_LIKE = {
    "vocab_size": 16,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "conv_dim": (16, 16),
    "conv_stride": (5, 2),
    "conv_kernel": (10, 3),
    "num_conv_pos_embeddings": 8,
    "num_conv_pos_embedding_groups": 4,
    "mask_time_prob": 0.3,
    "mask_time_length": 4,
    "pad_token_id": 0,
    "ctc_loss_reduction": "mean",
}


def ctc_batch(model: nn.Module) -> dict:
    return {"input_values": torch.randn(2, SAMPLES), "labels": torch.randint(1, 16, (2, 12))}


def whisper_batch(model: nn.Module) -> dict:
    cfg = model.config
    return {
        "input_features": torch.randn(2, cfg.num_mel_bins, 2 * cfg.max_source_positions),
        "labels": torch.randint(4, cfg.vocab_size, (2, 6)),
    }


def s2t_batch(model: nn.Module) -> dict:
    return {"input_features": torch.randn(2, 40, 8), "labels": torch.randint(4, 64, (2, 6))}


def ast_batch(model: nn.Module) -> dict:
    cfg = model.config
    return {
        "input_values": torch.randn(2, cfg.max_length, cfg.num_mel_bins),
        "labels": torch.randint(0, 3, (2,)),
    }


def wav2vec2_frozen_features() -> nn.Module:
    """The usual fine-tuning recipe: the convolutional feature encoder is frozen."""
    model = tf.Wav2Vec2ForCTC(tf.Wav2Vec2Config(**WAV2VEC_LIKE))
    model.freeze_feature_encoder()
    return model


def speech(name: str, build, batch, **kw) -> Case:
    return Case(name, build, batch, lm_labels, group="speech", **kw)


def cases() -> list[Case]:
    whisper = tf.WhisperConfig(
        vocab_size=64,
        num_mel_bins=8,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=16,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=3,
    )
    ast = tf.ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        patch_size=8,
        frequency_stride=8,
        time_stride=8,
        max_length=32,
        num_mel_bins=16,
        num_labels=3,
    )
    return [
        speech(
            "wav2vec2-ctc-frozen-features",
            wav2vec2_frozen_features,
            ctc_batch,
            shows=(("none", "feature_extractor."),),
            causes=(("feature_extractor.", "frozen"),),
        ),
        speech("hubert-ctc", lambda: tf.HubertForCTC(tf.HubertConfig(**WAV2VEC_LIKE)), ctc_batch),
        speech(
            "wavlm-ctc", lambda: tf.WavLMForCTC(tf.WavLMConfig(**WAV2VEC_LIKE, num_buckets=16)), ctc_batch
        ),
        speech(
            "data2vec_audio-ctc",
            lambda: tf.Data2VecAudioForCTC(
                tf.Data2VecAudioConfig(
                    **{k: v for k, v in WAV2VEC_LIKE.items() if k != "num_conv_pos_embeddings"},
                    num_conv_pos_embeddings=2,
                    conv_pos_kernel_size=3,
                )
            ),
            ctc_batch,
        ),
        speech("sew-ctc", lambda: tf.SEWForCTC(tf.SEWConfig(**WAV2VEC_LIKE, squeeze_factor=2)), ctc_batch),
        speech(
            "speech_to_text",
            lambda: tf.Speech2TextForConditionalGeneration(
                tf.Speech2TextConfig(
                    vocab_size=64,
                    d_model=32,
                    encoder_layers=2,
                    decoder_layers=2,
                    encoder_attention_heads=4,
                    decoder_attention_heads=4,
                    encoder_ffn_dim=64,
                    decoder_ffn_dim=64,
                    max_source_positions=64,
                    max_target_positions=16,
                    num_conv_layers=2,
                    conv_kernel_sizes=(5, 5),
                    conv_channels=16,
                    input_feat_per_channel=8,
                    input_channels=1,
                    pad_token_id=0,
                    bos_token_id=1,
                    eos_token_id=2,
                    decoder_start_token_id=2,
                )
            ),
            s2t_batch,
        ),
        speech("whisper", lambda: tf.WhisperForConditionalGeneration(whisper), whisper_batch),
        speech("audio_spectrogram_transformer", lambda: tf.ASTForAudioClassification(ast), ast_batch),
    ]
