"""Text encoders (transformers), with and without their pooler."""

from __future__ import annotations

import torch
import transformers as tf
from torch import nn
from torch.nn import functional as F

from ._case import Case, ids, lm_labels

VOCAB = 96
SEQ = 8
BERT_LIKE = {
    "vocab_size": VOCAB,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "pad_token_id": 0,
}
SEQ2SEQ_HEAD = {
    "vocab_size": VOCAB,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "decoder_start_token_id": 2,
}


def cls_batch(model: nn.Module) -> dict:
    return {"input_ids": ids(SEQ, VOCAB), "labels": torch.randint(0, 3, (2,))}


def mlm_batch(model: nn.Module) -> dict:
    x = ids(SEQ, VOCAB)
    labels = torch.full_like(x, -100)
    labels[:, 1::3] = x[:, 1::3]
    return {"input_ids": x, "labels": labels}


def seq2seq_batch(model: nn.Module) -> dict:
    return {"input_ids": ids(SEQ, VOCAB), "labels": ids(6, VOCAB)}


class ClsTokenHead(nn.Module):
    """A user's own head on an encoder that has a pooler: reads the first token, so the pooler is unused."""

    def __init__(self, encoder: nn.Module, classes: int = 3) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, classes)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(input_ids=input_ids).last_hidden_state[:, 0])


def cls_head_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    return F.cross_entropy(model(batch["input_ids"]), batch["labels"])


def electra_batch(model: nn.Module) -> dict:
    return {"input_ids": ids(SEQ, VOCAB), "labels": torch.randint(0, 2, (2, SEQ))}


def xlnet_batch(model: nn.Module) -> dict:
    x = ids(SEQ, VOCAB)
    return {"input_ids": x, "labels": x}


def reformer_batch(model: nn.Module) -> dict:
    x = ids(16, VOCAB)  # the axial position shape is 4 x 4
    return {"input_ids": x, "labels": x}


def enc(name: str, build, batch=cls_batch, loss=lm_labels, **kw) -> Case:
    return Case(name, build, batch, loss, group="encoder", **kw)


def cases() -> list[Case]:
    return [
        # BERT's classifier reads the pooler: every parameter learns.
        enc(
            "bert-seqcls-pooler",
            lambda: tf.BertForSequenceClassification(tf.BertConfig(**BERT_LIKE, num_labels=3)),
        ),
        # BertModel keeps its pooler, the user's head reads token 0 instead: the pooler is truly unused.
        enc(
            "bert-own-head-pooler-unused",
            lambda: ClsTokenHead(tf.BertModel(tf.BertConfig(**BERT_LIKE))),
            loss=cls_head_loss,
            shows=(("none", "encoder.pooler."),),
            causes=(("pooler", "unused"),),
        ),
        enc("bert-mlm", lambda: tf.BertForMaskedLM(tf.BertConfig(**BERT_LIKE)), batch=mlm_batch),
        enc(
            "roberta-seqcls",
            lambda: tf.RobertaForSequenceClassification(
                tf.RobertaConfig(**{**BERT_LIKE, "pad_token_id": 1}, num_labels=3)
            ),
        ),
        enc(
            "distilbert-seqcls",
            lambda: tf.DistilBertForSequenceClassification(
                tf.DistilBertConfig(
                    vocab_size=VOCAB,
                    dim=32,
                    n_layers=2,
                    n_heads=4,
                    hidden_dim=64,
                    max_position_embeddings=64,
                    pad_token_id=0,
                    num_labels=3,
                )
            ),
        ),
        enc(
            "albert-seqcls-pooler",
            lambda: tf.AlbertForSequenceClassification(
                tf.AlbertConfig(**BERT_LIKE, embedding_size=16, num_labels=3)
            ),
        ),
        enc(
            "electra-discriminator",
            lambda: tf.ElectraForPreTraining(tf.ElectraConfig(**BERT_LIKE, embedding_size=16)),
            batch=electra_batch,
        ),
        enc(
            "deberta_v2-mlm",
            lambda: tf.DebertaV2ForMaskedLM(
                tf.DebertaV2Config(
                    **BERT_LIKE, relative_attention=True, position_buckets=8, pos_att_type=["p2c", "c2p"]
                )
            ),
            batch=mlm_batch,
        ),
        enc(
            "xlm_roberta-seqcls",
            lambda: tf.XLMRobertaForSequenceClassification(
                tf.XLMRobertaConfig(**{**BERT_LIKE, "pad_token_id": 1}, num_labels=3)
            ),
        ),
        enc(
            "mpnet-mlm",
            lambda: tf.MPNetForMaskedLM(tf.MPNetConfig(**{**BERT_LIKE, "pad_token_id": 1})),
            batch=mlm_batch,
        ),
        enc(
            "funnel-seqcls",
            lambda: tf.FunnelForSequenceClassification(
                tf.FunnelConfig(
                    vocab_size=VOCAB,
                    block_sizes=[1, 1],
                    num_decoder_layers=1,
                    d_model=32,
                    n_head=4,
                    d_head=8,
                    d_inner=64,
                    num_labels=3,
                )
            ),
        ),
        enc(
            "longformer-mlm",
            lambda: tf.LongformerForMaskedLM(
                tf.LongformerConfig(**{**BERT_LIKE, "pad_token_id": 1}, attention_window=4)
            ),
            batch=mlm_batch,
        ),
        enc(
            "big_bird-mlm",
            lambda: tf.BigBirdForMaskedLM(tf.BigBirdConfig(**BERT_LIKE, attention_type="original_full")),
            batch=mlm_batch,
        ),
        enc(
            "convbert-mlm",
            lambda: tf.ConvBertForMaskedLM(tf.ConvBertConfig(**BERT_LIKE, embedding_size=16)),
            batch=mlm_batch,
        ),
        enc(
            "modernbert-mlm",
            lambda: tf.ModernBertForMaskedLM(tf.ModernBertConfig(**BERT_LIKE, local_attention=4)),
            batch=mlm_batch,
        ),
        enc(
            "modernbert-seqcls",
            lambda: tf.ModernBertForSequenceClassification(
                tf.ModernBertConfig(**BERT_LIKE, local_attention=4, num_labels=3)
            ),
        ),
        enc(
            "roformer-mlm",
            lambda: tf.RoFormerForMaskedLM(tf.RoFormerConfig(**BERT_LIKE, embedding_size=32)),
            batch=mlm_batch,
        ),
        enc(
            "esm-mlm",
            lambda: tf.EsmForMaskedLM(
                tf.EsmConfig(
                    **{**BERT_LIKE, "pad_token_id": 1}, mask_token_id=3, position_embedding_type="rotary"
                )
            ),
            batch=mlm_batch,
        ),
        enc(
            "mobilebert-seqcls",
            lambda: tf.MobileBertForSequenceClassification(
                tf.MobileBertConfig(
                    **BERT_LIKE,
                    embedding_size=16,
                    intra_bottleneck_size=16,
                    num_feedforward_networks=2,
                    num_labels=3,
                )
            ),
        ),
        enc(
            "xlnet-lm",
            lambda: tf.XLNetLMHeadModel(
                tf.XLNetConfig(vocab_size=VOCAB, d_model=32, n_layer=2, n_head=4, d_inner=64, pad_token_id=0)
            ),
            batch=xlnet_batch,
        ),
        # Reformer's reversible layers run the forward under no_grad and recompute it in a custom
        # autograd.Function's backward. In training it reseeds torch from the OS (torch.seed()) for each
        # layer's dropout, so dropout is off and the hashing seeded here: the step is then deterministic.
        enc(
            "reformer-lm",
            lambda: tf.ReformerModelWithLMHead(
                tf.ReformerConfig(
                    vocab_size=VOCAB,
                    hidden_size=32,
                    attention_head_size=8,
                    num_attention_heads=2,
                    attn_layers=["local", "lsh"],
                    feed_forward_size=64,
                    axial_pos_shape=[4, 4],
                    axial_pos_embds_dim=[16, 16],
                    max_position_embeddings=16,
                    local_attn_chunk_length=4,
                    lsh_attn_chunk_length=4,
                    num_buckets=2,
                    hidden_dropout_prob=0.0,
                    local_attention_probs_dropout_prob=0.0,
                    lsh_attention_probs_dropout_prob=0.0,
                    hash_seed=0,
                    is_decoder=True,
                    pad_token_id=0,
                    eos_token_id=2,
                )
            ),
            batch=reformer_batch,
        ),
    ]
