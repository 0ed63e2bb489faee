"""Models shared by the benchmarks: each factory returns ``(model, make_batch, loss_fn)``.

``make_batch(generator)`` returns the inputs and targets of one batch; ``loss_fn(model, batch)`` runs the
forward and returns a scalar loss. Sizes are the ones the issues quote, so numbers stay comparable:

>>> model, make_batch, loss_fn = mlp()
>>> loss = loss_fn(model, make_batch(torch.Generator().manual_seed(0)))
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor]
Zoo = tuple[nn.Module, Callable[[torch.Generator], Batch], Callable[[nn.Module, Batch], torch.Tensor]]


def _classify(model: nn.Module, batch: Batch) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x), y)


def mlp(width: int = 1024, depth: int = 3, batch: int = 64, classes: int = 10) -> Zoo:
    """Three hidden layers of 1024 (3.2M parameters in 8 tensors)."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(width, classes))

    def make_batch(g: torch.Generator) -> Batch:
        return torch.randn(batch, width, generator=g), torch.randint(classes, (batch,), generator=g)

    return model, make_batch, _classify


def small_cnn(batch: int = 32, classes: int = 10) -> Zoo:
    """A CIFAR-sized convnet: three conv + batch-norm stages and a linear head (~0.3M parameters)."""

    def stage(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    model = nn.Sequential(
        *stage(3, 32), *stage(32, 64), *stage(64, 128), nn.Flatten(), nn.Linear(128 * 4 * 4, classes)
    )

    def make_batch(g: torch.Generator) -> Batch:
        return torch.randn(batch, 3, 32, 32, generator=g), torch.randint(classes, (batch,), generator=g)

    return model, make_batch, _classify


class _Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc1 = nn.Linear(d_model, 4 * d_model)
        self.fc2 = nn.Linear(4 * d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class GPT(nn.Module):
    """GPT-style decoder: token + position embeddings, pre-norm blocks, untied head without bias."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, seq: int, vocab: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(seq, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def gpt(
    n_layers: int = 12, d_model: int = 256, n_heads: int = 4, seq: int = 64, vocab: int = 1024, batch: int = 8
) -> Zoo:
    """12 layers, d_model 256, 4 heads, seq 64, batch 8: 10.0M parameters in 149 tensors."""
    model = GPT(n_layers, d_model, n_heads, seq, vocab)

    def make_batch(g: torch.Generator) -> Batch:
        tokens = torch.randint(vocab, (batch, seq + 1), generator=g)
        return tokens[:, :-1], tokens[:, 1:]

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x).flatten(0, 1), y.flatten())

    return model, make_batch, loss_fn


class ManySmall(nn.Module):
    """``n`` separate 64x64 weights, each applied to its own slice of the batch's features (no bias).

    Blocks of 8 weights are chained with tanh, the blocks run side by side: enough depth to be a real graph,
    not so deep that the gradients vanish.
    """

    def __init__(self, n: int, dim: int = 64, chain: int = 8) -> None:
        super().__init__()
        self.chain = chain
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(dim, dim) / dim**0.5) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for start in range(0, len(self.weights), self.chain):
            h = x
            for w in self.weights[start : start + self.chain]:
                h = torch.tanh(h @ w)
            outs.append(h)
        return torch.stack(outs).mean(0)


def many_small(n: int = 800, batch: int = 16, dim: int = 64) -> Zoo:
    """800 parameters of 64x64 (3.3M values): the per-parameter overhead case."""
    model = ManySmall(n, dim)

    def make_batch(g: torch.Generator) -> Batch:
        return torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(model(x), y)

    return model, make_batch, loss_fn


def llama(
    hidden: int = 256, layers: int = 4, heads: int = 4, seq: int = 128, batch: int = 8, vocab: int = 1024
) -> Zoo:
    """Hugging Face LlamaForCausalLM from a config (random init, no download): hidden 256, 4 layers,
    4 heads, seq 128, batch 8. Needs ``transformers``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=seq,
        attn_implementation="eager",
    )
    model = LlamaForCausalLM(config)

    def make_batch(g: torch.Generator) -> Batch:
        tokens = torch.randint(vocab, (batch, seq), generator=g)
        return tokens, tokens

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch
        return model(input_ids=x, labels=y).loss

    return model, make_batch, loss_fn


def tiny(width: int = 32, batch: int = 8, classes: int = 4) -> Zoo:
    """Two layers of width 32, batch 8: a step of well under a millisecond, where fixed costs dominate."""
    model = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, classes))

    def make_batch(g: torch.Generator) -> Batch:
        return torch.randn(batch, width, generator=g), torch.randint(classes, (batch,), generator=g)

    return model, make_batch, _classify


MODELS: dict[str, Callable[[], Zoo]] = {
    "mlp": mlp,
    "small_cnn": small_cnn,
    "gpt": gpt,
    "many_small": many_small,
    "llama": llama,
    "tiny": tiny,
}
