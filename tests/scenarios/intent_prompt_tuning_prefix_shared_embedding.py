"""Prompt tuning on a tiny language model whose token embedding is tied to its output head (shared weights):
a learned `prompt` is prepended to the embedded tokens and the optimizer holds only the prompt. Truth: the
tied embedding, the body and the head bias all get gradients the optimizer never uses. gradviz:
not_in_optimizer; the prompt learns through the body, so its fix offers `model.body.requires_grad_(False)`
first, never the bare "build the optimizer from model.parameters()"."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
BODY = ("body.0.weight", "body.0.bias")
EXPECT = {
    "prompt": ("ok", "*"),
    "emb.weight": ("not_in_optimizer", "*"),
    "head.bias": ("not_in_optimizer", "*"),
    **dict.fromkeys(BODY, ("not_in_optimizer", "*")),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")
MESSAGE = {name: ["model.body.requires_grad_(false)", "still flows"] for name in BODY}
AVOID = {name: ["build the optimizer from model.parameters()"] for name in BODY}


class TinyLM(nn.Module):
    def __init__(self, vocab=13, dim=8):
        super().__init__()
        self.prompt = nn.Parameter(torch.randn(3, dim) * 0.1)
        self.emb = nn.Embedding(vocab, dim)
        self.body = nn.Sequential(nn.Linear(dim, dim), nn.Tanh())
        self.head = nn.Linear(dim, vocab)
        self.head.weight = self.emb.weight

    def forward(self, tokens):
        x = torch.cat([self.prompt.expand(tokens.shape[0], -1, -1), self.emb(tokens)], 1)
        h = self.body(x)
        h = h + h.mean(1, keepdim=True)  # every position sees the prompt
        return self.head(h)[:, self.prompt.shape[0] :]


def run(trace):
    torch.manual_seed(0)
    model = TinyLM()
    opt = torch.optim.Adam([model.prompt], lr=1e-2)
    tokens = torch.randint(0, 13, (2, 5))
    with trace(model, optimizer=opt):
        loss = F.cross_entropy(model(tokens).flatten(0, 1), tokens.flatten())
        loss.backward()
    return model
