"""A small GPT-style model with a realistic hidden bug, and the same model fixed.

The bug: the token embedding was frozen (a warm-up that was never undone), and each block runs under a
reentrant ``torch.utils.checkpoint``. The blocks' input is the embedding output plus a positional buffer, so
it does not require grad; reentrant checkpoint then returns an output without a gradient path and every
block gets None. Only the final norm and the head learn. Nothing raises (torch only warns).
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from gradviz._demos._base import demo


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention and an MLP, each with a residual connection."""

    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.ln2(x))


def sinusoids(T: int, d: int) -> torch.Tensor:
    pos = torch.arange(T)[:, None]
    freq = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
    pe = torch.zeros(T, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe


class TinyGPT(nn.Module):
    def __init__(self, vocab=8, d=32, n_head=2, n_layer=2, block_size=16, use_reentrant=True):
        super().__init__()
        self.use_reentrant = use_reentrant
        self.tok = nn.Embedding(vocab, d)
        self.register_buffer("pos", sinusoids(block_size, d))
        self.blocks = nn.ModuleList(Block(d, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        x = self.tok(idx) + self.pos[: idx.shape[1]]
        for block in self.blocks:
            with (
                warnings.catch_warnings()
            ):  # the bug makes torch warn "None of the inputs have requires_grad"
                warnings.filterwarnings("ignore", "None of the inputs have requires_grad", UserWarning)
                x = checkpoint(block, x, use_reentrant=self.use_reentrant)
        return self.head(self.ln_f(x))


def copy_batch(n: int = 32, vocab: int = 8, T: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences whose second half repeats the first; only the repeated half can be predicted."""
    half = torch.randint(0, vocab, (n, T // 2))
    seq = torch.cat([half, half], dim=1)
    idx, targets = seq[:, :-1], seq[:, 1:].clone()
    targets[:, : T // 2 - 1] = -100  # ignored by cross_entropy
    return idx, targets


def tiny_gpt_buggy() -> nn.Module:
    model = TinyGPT(use_reentrant=True)
    model.tok.weight.requires_grad_(False)  # "warm-up: keep the pretrained embedding fixed", never undone
    return model


def unfrozen_non_reentrant() -> nn.Module:
    return TinyGPT(use_reentrant=False)


def adamw(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)


def gpt_step(model, opt):
    idx, targets = copy_batch()
    logits = model(idx)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
    opt.zero_grad()
    loss.backward()
    opt.step()


TRAINS = {"ln_f.*": "ok", "head.*": "ok"}
tiny_gpt_bug = demo(
    "model", {"tok.weight": "frozen", "blocks.*": "checkpoint", **TRAINS}, build=tiny_gpt_buggy,
    optimizer=adamw, where={"blocks.*": "checkpoint("}, name="tiny_gpt_bug",
    summary="A tiny GPT whose blocks never learn: frozen embedding + reentrant checkpoint.",
)(gpt_step)  # fmt: skip
tiny_gpt_fixed = demo(
    "model", {"*": "ok"}, build=unfrozen_non_reentrant, optimizer=adamw, name="tiny_gpt_fixed",
    summary="The same GPT fixed (embedding unfrozen, use_reentrant=False): all learn.",
)(gpt_step)  # fmt: skip
