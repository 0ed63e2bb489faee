"""Encoder-decoder models (transformers): T5 family, BART family, LED, trained on labels (teacher forcing)."""

from __future__ import annotations

import transformers as tf

from ._case import Case, lm_labels
from ._encoders import SEQ2SEQ_HEAD, seq2seq_batch

BART_LIKE = {
    "d_model": 32,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "max_position_embeddings": 64,
    **SEQ2SEQ_HEAD,
}
T5_LIKE = {
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 64,
    "num_layers": 2,
    "num_heads": 4,
    "relative_attention_num_buckets": 8,
    **SEQ2SEQ_HEAD,
}


def s2s(name: str, build, **kw) -> Case:
    return Case(name, build, seq2seq_batch, lm_labels, group="encoder-decoder", **kw)


def cases() -> list[Case]:
    return [
        s2s("t5", lambda: tf.T5ForConditionalGeneration(tf.T5Config(**T5_LIKE))),
        s2s("mt5", lambda: tf.MT5ForConditionalGeneration(tf.MT5Config(**T5_LIKE))),
        s2s(
            "longt5",
            lambda: tf.LongT5ForConditionalGeneration(
                tf.LongT5Config(
                    **T5_LIKE, local_radius=2, global_block_size=4, encoder_attention_type="transient-global"
                )
            ),
        ),
        s2s("bart", lambda: tf.BartForConditionalGeneration(tf.BartConfig(**BART_LIKE))),
        s2s("mbart", lambda: tf.MBartForConditionalGeneration(tf.MBartConfig(**BART_LIKE))),
        s2s("marian", lambda: tf.MarianMTModel(tf.MarianConfig(**BART_LIKE))),
        s2s("pegasus", lambda: tf.PegasusForConditionalGeneration(tf.PegasusConfig(**BART_LIKE))),
        s2s("blenderbot", lambda: tf.BlenderbotForConditionalGeneration(tf.BlenderbotConfig(**BART_LIKE))),
        s2s(
            "led",
            lambda: tf.LEDForConditionalGeneration(
                tf.LEDConfig(
                    **{k: v for k, v in BART_LIKE.items() if k != "max_position_embeddings"},
                    max_encoder_position_embeddings=64,
                    max_decoder_position_embeddings=64,
                    attention_window=4,
                )
            ),
        ),
    ]
