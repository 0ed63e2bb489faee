"""A pairwise-distance matrix of embeddings with themselves, `((e[:, None] - e[None]) ** 2).sum(-1).sqrt()`:
the diagonal is exactly 0 and sqrt's gradient there is infinite. Truth: the loss is finite but the
embedding's gradient is NaN. gradviz: nonfinite, born in the backward of sqrt, with the fix: an epsilon
inside the root."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"emb.weight": ("nonfinite", "@sqrt"), "emb.bias": ("nonfinite", "@sqrt")}
GRADS = {"emb.weight": "nonfinite", "emb.bias": "nonfinite"}
MESSAGE = {"emb.weight": ["backward of sqrt", "+ 1e-12).sqrt()"]}
AVOID = {"emb.weight": ["lower the learning rate"]}


def pairwise(e):
    return ((e[:, None] - e[None]) ** 2).sum(-1).sqrt()  # @sqrt


def run(trace):
    torch.manual_seed(0)
    model = nn.Module()
    model.emb = nn.Linear(5, 3)
    x = torch.randn(4, 5)
    with trace(model):
        d = pairwise(model.emb(x))
        loss = torch.relu(1.0 - d).mean()
        loss.backward()
    return model
