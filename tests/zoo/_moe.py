"""Mixture-of-experts models (transformers).

Most current implementations keep all experts of a layer in one 3-D Parameter (Mixtral, Qwen2/3-MoE, OLMoE,
DBRX, DeepSeek-V3, gpt-oss, ...): an expert that gets no token leaves a zero slice, and the Parameter as a
whole still gets a gradient, so nothing is unused. Switch Transformers and NLLB-MoE keep each expert as its
own module: with 16 tokens and 8 experts some expert gets no token on the step, a true ``unused``.
"""

from __future__ import annotations

import transformers as tf

from ._case import Case, lm_labels
from ._decoders import LLAMA_LIKE, causal
from ._encoders import SEQ2SEQ_HEAD, seq2seq_batch

ROUTED = {"num_experts_per_tok": 2}


def switch_config() -> tf.SwitchTransformersConfig:
    return tf.SwitchTransformersConfig(
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        num_experts=8,
        encoder_sparse_step=1,
        decoder_sparse_step=1,
        expert_capacity=64,
        relative_attention_num_buckets=8,
        **SEQ2SEQ_HEAD,
    )


def nllb_moe_config() -> tf.NllbMoeConfig:
    return tf.NllbMoeConfig(
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        num_experts=8,
        expert_capacity=64,
        encoder_sparse_step=1,
        decoder_sparse_step=1,
        **SEQ2SEQ_HEAD,
    )


def cases() -> list[Case]:
    moe = {**LLAMA_LIKE, **ROUTED}
    return [
        causal("mixtral", tf.MixtralForCausalLM, tf.MixtralConfig(**moe, num_local_experts=4)),
        causal(
            "qwen2_moe",
            tf.Qwen2MoeForCausalLM,
            tf.Qwen2MoeConfig(
                **moe,
                num_experts=4,
                moe_intermediate_size=32,
                shared_expert_intermediate_size=32,
                decoder_sparse_step=1,
            ),
        ),
        causal(
            "qwen3_moe",
            tf.Qwen3MoeForCausalLM,
            tf.Qwen3MoeConfig(**moe, num_experts=4, moe_intermediate_size=32),
        ),
        causal("olmoe", tf.OlmoeForCausalLM, tf.OlmoeConfig(**moe, num_experts=4)),
        causal("granitemoe", tf.GraniteMoeForCausalLM, tf.GraniteMoeConfig(**moe, num_local_experts=4)),
        causal("phimoe", tf.PhimoeForCausalLM, tf.PhimoeConfig(**moe, num_local_experts=4)),
        causal(
            "jetmoe",
            tf.JetMoeForCausalLM,
            tf.JetMoeConfig(
                vocab_size=LLAMA_LIKE["vocab_size"],
                hidden_size=32,
                num_hidden_layers=2,
                num_key_value_heads=2,
                kv_channels=8,
                intermediate_size=64,
                max_position_embeddings=64,
                num_local_experts=4,
                num_experts_per_tok=2,
                pad_token_id=0,
                bos_token_id=1,
                eos_token_id=2,
            ),
        ),
        causal(
            "deepseek_v3",
            tf.DeepseekV3ForCausalLM,
            tf.DeepseekV3Config(
                **{**moe, "num_key_value_heads": 4},
                moe_intermediate_size=16,
                n_shared_experts=1,
                n_routed_experts=4,
                kv_lora_rank=16,
                q_lora_rank=16,
                qk_rope_head_dim=4,
                v_head_dim=8,
                qk_nope_head_dim=4,
                n_group=1,
                topk_group=1,
                first_k_dense_replace=1,
            ),
        ),
        causal(
            "gpt_oss",
            tf.GptOssForCausalLM,
            tf.GptOssConfig(**{**moe, "head_dim": 8}, num_local_experts=4, sliding_window=4),
        ),
        causal(
            "jamba-mamba-moe",
            tf.JambaForCausalLM,
            tf.JambaConfig(
                **moe,
                num_experts=4,
                expert_layer_period=2,
                expert_layer_offset=1,
                attn_layer_period=2,
                attn_layer_offset=0,
                use_mamba_kernels=False,
                mamba_d_state=8,
                mamba_d_conv=4,
                mamba_expand=2,
            ),
        ),
        Case(
            "switch_transformers-moe",
            lambda: tf.SwitchTransformersForConditionalGeneration(switch_config()),
            seq2seq_batch,
            lm_labels,
            shows=(("none", "experts.expert_"),),
            causes=(("experts.expert_", "unused"),),
            group="encoder-decoder",
        ),
        Case(
            "nllb_moe",
            lambda: tf.NllbMoeForConditionalGeneration(nllb_moe_config()),
            seq2seq_batch,
            lm_labels,
            group="encoder-decoder",
        ),
    ]
