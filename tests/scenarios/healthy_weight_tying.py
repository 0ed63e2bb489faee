"""Weight tying: the output projection shares the embedding matrix (`self.head.weight = self.emb.weight`).
Truth: one Parameter, reached by two paths, gets the sum of both gradients; named_parameters() lists it once
(as `emb.weight`) plus `head.bias`. gradviz: all ok (a shared parameter is not a problem)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"emb.weight": ("ok", "*"), "head.bias": ("ok", "*")}
GRADS = {"emb.weight": "nonzero", "head.bias": "nonzero", "head.weight": "nonzero"}


class TinyLM(nn.Module):
    def __init__(self, vocab=11, dim=6):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, vocab)
        self.head.weight = self.emb.weight

    def forward(self, tokens):
        return self.head(torch.tanh(self.emb(tokens)))


def run(trace):
    torch.manual_seed(0)
    model = TinyLM()
    tokens = torch.randint(0, 11, (3, 7))
    targets = torch.randint(0, 11, (3, 7))
    with trace(model):
        logits = model(tokens)
        loss = nn.functional.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1))
        loss.backward()
    return model
