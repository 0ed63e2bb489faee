"""A LoRA adapter on an embedding, initialised as PEFT does for embeddings: the A table is all zeros and B is
random (the reverse of a Linear's LoRA). Truth at the first step: B's gradient is exactly zero (it multiplies
the zero rows looked up from A), A's is not. gradviz: zero for B, saying A is all zeros and moves at this
step (by design), not "values discarded (sliced off, masked)"."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "lora_embedding_B": ("zero", "@lookup"),
    "lora_embedding_A": ("ok", "*"),
    "base.weight": ("frozen", None),
}
GRADS = {"lora_embedding_B": "zero", "lora_embedding_A": "nonzero", "base.weight": "none"}
MESSAGE = {"lora_embedding_B": ["lora_embedding_a is all zeros", "by design", "next step"]}
AVOID = {"lora_embedding_B": ["discarded", "initialise one of"]}


class LoraEmbedding(nn.Module):
    def __init__(self, vocab=12, dim=6, r=2):
        super().__init__()
        self.base = nn.Embedding(vocab, dim).requires_grad_(False)
        self.lora_embedding_A = nn.Parameter(torch.zeros(r, vocab))
        self.lora_embedding_B = nn.Parameter(torch.randn(dim, r))

    def forward(self, tokens):
        after_a = F.embedding(tokens, self.lora_embedding_A.T)
        return self.base(tokens) + after_a @ self.lora_embedding_B.T  # @lookup


def run(trace):
    torch.manual_seed(0)
    model = LoraEmbedding()
    tokens = torch.randint(0, 12, (3, 5))
    with trace(model):
        loss = model(tokens).pow(2).mean()
        loss.backward()
    return model
