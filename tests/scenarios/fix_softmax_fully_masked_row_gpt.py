"""A small GPT (tied embeddings, causal attention written by hand: `att.masked_fill(~mask, -inf)` then
softmax) on a left-padded batch: the first query of the padded sequence may only look at itself, and that
key is padding, so its row is masked entirely and softmax gives NaN. Truth: the loss and every gradient are
NaN. gradviz: nonfinite at the softmax line, with the fix for that mechanism (keep at least one unmasked
key per row, or drop empty sequences), not the generic double-where or "lower the learning rate"."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
LOSS_NONFINITE = True


class Block(nn.Module):
    def __init__(self, d=16, heads=2):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, mask):
        B, T, C = x.shape
        q, k, v = (
            t.view(B, T, self.heads, C // self.heads).transpose(1, 2)
            for t in self.qkv(self.ln1(x)).split(C, -1)
        )
        att = (q @ k.transpose(-2, -1)) / (k.shape[-1] ** 0.5)
        att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)  # @softmax
        x = x + self.proj((att @ v).transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab=20, d=16, T=8, layers=2):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(T, d)
        self.blocks = nn.ModuleList(Block(d) for _ in range(layers))
        self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx, pad):
        T = idx.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool).tril() & ~pad[:, None, None, :]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln_f(x))


NAMES = [name for name, _ in GPT().named_parameters()]
EXPECT = dict.fromkeys(NAMES, ("nonfinite", "@softmax"))
GRADS = dict.fromkeys(NAMES, "nonfinite")
MESSAGE = {
    name: ["every position is -inf", "keep at least one unmasked key per row", "drop the sequences"]
    for name in NAMES
}
AVOID = {name: ["double-where", "lower the learning rate"] for name in NAMES}


def run(trace):
    torch.manual_seed(0)
    model = GPT()
    idx = torch.randint(0, 20, (2, 8))
    pad = torch.zeros(2, 8, dtype=torch.bool)
    pad[1, :3] = True  # left padding: the first query of sequence 1 sees only a padded key
    with trace(model):
        logits = model(idx, pad)
        loss = F.cross_entropy(logits.flatten(0, 1), idx.roll(-1, 1).flatten())
        loss.backward()
    return {**dict(model.named_parameters()), "loss": loss.detach()}
