"""`nn.Embedding(max_norm=...)` renormalises its own weight in place on every call (torch.embedding_renorm_,
inside F.embedding). Tied weights: the same weight was used (and saved) by an op before the lookup. Truth:
backward raises "modified by an inplace operation". gradviz: error at the line that called the embedding
(the write happened inside the library op; its name is not an in-place name)."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = ["embedding", "@lookup"]
EXPECT = {"emb.weight": ("error", "@lookup")}
GRADS = {"emb.weight": "none"}


class TiedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4, max_norm=1.0)

    def forward(self, ids):
        penalty = (self.emb.weight**2).sum()  # pow saves the weight for its backward
        e = self.emb(ids)  # @lookup
        return penalty * e.sum()


def run(trace):
    torch.manual_seed(0)
    model = TiedLM()
    with torch.no_grad():
        model.emb.weight.mul_(10)  # rows longer than max_norm: the lookup will renormalise them
    with trace(model):
        loss = model(torch.tensor([1, 2, 3]))
        loss.backward()
    return model
