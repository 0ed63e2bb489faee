"""`nn.Embedding(..., padding_idx=0)` with padded batches. Truth: the weight gets a gradient whose padding row
is exactly zero by design (other rows are not), so the gradient as a whole is non-zero. gradviz: ok, not zero
(a partly zero gradient is not a problem)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"emb.weight": ("ok", "*"), "head.weight": ("ok", "*"), "head.bias": ("ok", "*")}
GRADS = dict.fromkeys(EXPECT, "nonzero")


class Bag(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4, padding_idx=0)
        self.head = nn.Linear(4, 1)

    def forward(self, tokens):
        return self.head(self.emb(tokens).mean(1))


def run(trace):
    torch.manual_seed(0)
    model = Bag()
    tokens = torch.tensor([[3, 5, 0, 0], [1, 2, 7, 0]])
    y = torch.randn(2, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(tokens), y)
        loss.backward()
    return model
