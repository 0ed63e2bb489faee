"""Attention in a helper with an additive mask (`scores + torch.where(mask, 0.0, -inf)`), written with
functional ops; one query row has no allowed key. Truth: the loss and every gradient are NaN (an additive
mask passes the NaN row's gradient on to q and k, where masked_fill would zero it). gradviz: nonfinite at
the helper's softmax line, with the masked-row fix."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
LOSS_NONFINITE = True
EXPECT = dict.fromkeys(("q.weight", "k.weight", "v.weight"), ("nonfinite", "@softmax"))
GRADS = {"q.weight": "nonfinite", "k.weight": "nonfinite", "v.weight": "nonfinite"}
MESSAGE = {"v.weight": ["keep at least one unmasked key per row"]}
AVOID = {"v.weight": ["double-where", "lower the learning rate"]}


def attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    weights = F.softmax(scores + torch.where(mask, 0.0, float("-inf")), dim=-1)  # @softmax
    return weights @ v


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(4, 4, bias=False) for _ in range(3))

    def forward(self, x, mask):
        return attention(self.q(x), self.k(x), self.v(x), mask)


def run(trace):
    torch.manual_seed(0)
    model = Attention()
    mask = torch.ones(5, 5, dtype=torch.bool)
    mask[3] = False
    with trace(model):
        loss = model(torch.randn(5, 4), mask).pow(2).mean()
        loss.backward()
    return {**dict(model.named_parameters()), "loss": loss.detach()}
