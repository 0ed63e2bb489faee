"""Pairwise distances written `((a - b) ** 2).sum(-1).pow(0.5)` when two points coincide: the forward is 0
(finite), but the backward of pow(0.5) is 0.5 / sqrt(0) = inf there, and 0 * inf = NaN through the square.
(torch.linalg.vector_norm masks that case and stays finite.) Truth: NaN gradients. gradviz: nonfinite at the
distance line, born in the *backward* of pow (not in a later consumer), fix: add an epsilon inside."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("nonfinite", "@dist"), "bias": ("nonfinite", "@dist")}
GRADS = {"weight": "nonfinite", "bias": "nonfinite"}
MESSAGE = {"weight": ["backward of pow", "epsilon"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    x[3] = x[0]  # two identical inputs: identical embeddings
    with trace(model):
        e = model(x)
        d = ((e[:, None] - e[None]) ** 2).sum(-1).pow(0.5)  # @dist
        loss = torch.exp(-d).sum()
        loss.backward()
    return model
