"""Decoder language models (transformers), dense and mixture-of-experts, from tiny random configs."""

from __future__ import annotations

import transformers as tf
from torch import nn

from ._case import Case, ids, lm_labels

VOCAB = 96
SEQ = 8
# Sizes shared by the Llama-like configs: hidden 32, 2 layers, 4 heads (2 key/value heads), intermediate 64.
LLAMA_LIKE = {
    "vocab_size": VOCAB,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}


def lm_batch(model: nn.Module) -> dict:
    x = ids(SEQ, VOCAB)
    return {"input_ids": x, "labels": x}


def causal(name: str, model_cls: type, config: tf.PretrainedConfig, **kw) -> Case:
    return Case(name, lambda: model_cls(config), lm_batch, lm_labels, group="decoder", **kw)


def _llama(**extra) -> dict:
    return {**LLAMA_LIKE, **extra}


def cases() -> list[Case]:
    head = {"vocab_size": VOCAB, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    return [
        causal(
            "gpt2", tf.GPT2LMHeadModel, tf.GPT2Config(n_positions=64, n_embd=32, n_layer=2, n_head=2, **head)
        ),
        causal("llama", tf.LlamaForCausalLM, tf.LlamaConfig(**LLAMA_LIKE)),
        causal("mistral", tf.MistralForCausalLM, tf.MistralConfig(**LLAMA_LIKE, sliding_window=4)),
        causal("qwen2", tf.Qwen2ForCausalLM, tf.Qwen2Config(**LLAMA_LIKE)),
        causal("qwen3", tf.Qwen3ForCausalLM, tf.Qwen3Config(**_llama(head_dim=8))),
        causal("gemma", tf.GemmaForCausalLM, tf.GemmaConfig(**_llama(head_dim=8))),
        causal("gemma2", tf.Gemma2ForCausalLM, tf.Gemma2Config(**_llama(head_dim=8, sliding_window=4))),
        causal("phi", tf.PhiForCausalLM, tf.PhiConfig(**LLAMA_LIKE)),
        causal("phi3", tf.Phi3ForCausalLM, tf.Phi3Config(**LLAMA_LIKE)),
        causal(
            "opt",
            tf.OPTForCausalLM,
            tf.OPTConfig(
                hidden_size=32,
                ffn_dim=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                word_embed_proj_dim=32,
                max_position_embeddings=64,
                **head,
            ),
        ),
        causal("bloom", tf.BloomForCausalLM, tf.BloomConfig(hidden_size=32, n_layer=2, n_head=4, **head)),
        causal(
            "falcon",
            tf.FalconForCausalLM,
            tf.FalconConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, **head),
        ),
        causal(
            "gpt_neox",
            tf.GPTNeoXForCausalLM,
            tf.GPTNeoXConfig(
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=64,
                **head,
            ),
        ),
        causal("starcoder2", tf.Starcoder2ForCausalLM, tf.Starcoder2Config(**LLAMA_LIKE)),
        causal(
            "mamba",
            tf.MambaForCausalLM,
            tf.MambaConfig(
                hidden_size=32, state_size=8, num_hidden_layers=2, expand=2, conv_kernel=4, **head
            ),
        ),
        causal(
            "gpt_neo",
            tf.GPTNeoForCausalLM,
            tf.GPTNeoConfig(
                hidden_size=32,
                num_layers=2,
                num_heads=4,
                attention_types=[[["global", "local"], 1]],
                window_size=4,
                max_position_embeddings=64,
                **head,
            ),
        ),
        causal(
            "gptj",
            tf.GPTJForCausalLM,
            tf.GPTJConfig(n_positions=64, n_embd=32, n_layer=2, n_head=4, rotary_dim=4, **head),
        ),
        causal(
            "codegen",
            tf.CodeGenForCausalLM,
            tf.CodeGenConfig(n_positions=64, n_ctx=64, n_embd=32, n_layer=2, n_head=4, rotary_dim=4, **head),
        ),
        causal("olmo2", tf.Olmo2ForCausalLM, tf.Olmo2Config(**LLAMA_LIKE)),
        causal("cohere", tf.CohereForCausalLM, tf.CohereConfig(**LLAMA_LIKE, use_qk_norm=True)),
        causal("stablelm", tf.StableLmForCausalLM, tf.StableLmConfig(**LLAMA_LIKE, qk_layernorm=True)),
        causal(
            "granite",
            tf.GraniteForCausalLM,
            tf.GraniteConfig(
                **LLAMA_LIKE, embedding_multiplier=2.0, logits_scaling=2.0, residual_multiplier=0.5
            ),
        ),
        causal(
            "xglm",
            tf.XGLMForCausalLM,
            tf.XGLMConfig(
                d_model=32, ffn_dim=64, num_layers=2, attention_heads=4, max_position_embeddings=64, **head
            ),
        ),
        causal(
            "biogpt",
            tf.BioGptForCausalLM,
            tf.BioGptConfig(
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=64,
                max_position_embeddings=64,
                **head,
            ),
        ),
        causal(
            "mpt",
            tf.MptForCausalLM,
            tf.MptConfig(d_model=32, n_heads=4, n_layers=2, expansion_ratio=2, max_seq_len=64, **head),
        ),
        causal(
            "rwkv",
            tf.RwkvForCausalLM,
            tf.RwkvConfig(
                vocab_size=VOCAB,
                context_length=64,
                hidden_size=32,
                num_hidden_layers=2,
                attention_hidden_size=32,
                intermediate_size=64,
                bos_token_id=1,
                eos_token_id=2,
            ),
        ),
        causal("gemma3", tf.Gemma3ForCausalLM, tf.Gemma3TextConfig(**_llama(head_dim=8, sliding_window=4))),
        causal(
            "recurrent_gemma",
            tf.RecurrentGemmaForCausalLM,
            tf.RecurrentGemmaConfig(
                num_hidden_layers=3,
                vocab_size=VOCAB,
                hidden_size=32,
                intermediate_size=64,
                num_attention_heads=4,
                num_key_value_heads=1,
                lru_width=32,
                attention_window_size=4,
                conv1d_width=4,
                pad_token_id=0,
                bos_token_id=1,
                eos_token_id=2,
            ),
        ),
        causal(
            "falcon_mamba",
            tf.FalconMambaForCausalLM,
            tf.FalconMambaConfig(
                hidden_size=32, state_size=8, num_hidden_layers=2, expand=2, conv_kernel=4, **head
            ),
        ),
    ]
