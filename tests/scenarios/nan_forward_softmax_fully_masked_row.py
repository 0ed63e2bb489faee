"""Attention with a padding mask that hides *every* key of one query row: `scores.masked_fill(mask,
float("-inf")).softmax(-1)` gives NaN for that row (exp(-inf) / 0). Truth: the loss is NaN; v's gradient is
NaN; q's and k's are finite (masked_fill's backward zeroes the NaN row). gradviz: nonfinite for all three at
the softmax line ("every position is -inf"), fix: leave one position unmasked."""

import torch
from torch import nn

RAISES = None
NOTE = []
LOSS_NONFINITE = True
EXPECT = {
    "q.weight": ("nonfinite", "@softmax"),
    "k.weight": ("nonfinite", "@softmax"),
    "v.weight": ("nonfinite", "@softmax"),
}
GRADS = {"q.weight": "nonzero", "k.weight": "nonzero", "v.weight": "nonfinite"}
MESSAGE = {"q.weight": ["softmax", "-inf", "unmasked"]}


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(4, 4, bias=False)
        self.k = nn.Linear(4, 4, bias=False)
        self.v = nn.Linear(4, 4, bias=False)

    def forward(self, x, mask):
        scores = self.q(x) @ self.k(x).transpose(-1, -2)
        scores = scores.masked_fill(mask, float("-inf"))
        attn = scores.softmax(-1)  # @softmax
        return attn @ self.v(x)


def run(trace):
    torch.manual_seed(0)
    model = Attention()
    x = torch.randn(5, 4)
    mask = torch.zeros(5, 5, dtype=torch.bool)
    mask[2] = True  # query 2 may attend to nothing
    with trace(model):
        loss = model(x, mask).pow(2).mean()
        loss.backward()
    return {**dict(model.named_parameters()), "loss": loss.detach()}
