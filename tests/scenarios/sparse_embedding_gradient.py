"""`nn.Embedding(sparse=True)` gives a sparse gradient. Truth: a finite, non-zero gradient. gradviz used to
norm it as NaN and call it nonfinite; sparse gradients are now normed by their (coalesced) values: ok."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"emb.weight": ("ok", None), "head.weight": ("ok", None), "head.bias": ("ok", None)}
GRADS = {"emb.weight": "nonzero", "head.weight": "nonzero", "head.bias": "nonzero"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4, sparse=True)
        self.head = nn.Linear(4, 1)

    def forward(self, idx):
        return self.head(self.emb(idx))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.tensor([1, 2, 2, 7])).pow(2).mean()
        loss.backward()
    return model
