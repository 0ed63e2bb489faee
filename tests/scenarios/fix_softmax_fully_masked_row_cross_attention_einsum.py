"""Cross-attention written with `torch.einsum`, where one item of the batch has an empty memory (every key is
padding): `scores.masked_fill(~memory_mask[:, None, :], -inf).softmax(-1)`. Truth: the loss and to_v's
gradient are NaN; to_q's and to_k's are finite (masked_fill's backward zeroes the NaN row) but spoiled by
the NaN loss. gradviz: nonfinite at the softmax line, with the masked-row fix
(keep at least one unmasked key per row, or drop empty sequences)."""

import torch
from torch import nn

RAISES = None
NOTE = []
LOSS_NONFINITE = True
NAMES = ("to_q.weight", "to_k.weight", "to_v.weight")
EXPECT = dict.fromkeys(NAMES, ("nonfinite", "@softmax"))
GRADS = {"to_q.weight": "nonzero", "to_k.weight": "nonzero", "to_v.weight": "nonfinite"}
MESSAGE = {name: ["keep at least one unmasked key per row", "drop the sequences"] for name in NAMES}
AVOID = {name: ["double-where", "lower the learning rate"] for name in NAMES}


class CrossAttention(nn.Module):
    def __init__(self, d=6):
        super().__init__()
        self.to_q, self.to_k, self.to_v = (nn.Linear(d, d, bias=False) for _ in range(3))

    def forward(self, x, memory, memory_mask):
        scores = torch.einsum("bqd,bkd->bqk", self.to_q(x), self.to_k(memory))
        attn = scores.masked_fill(~memory_mask[:, None, :], float("-inf")).softmax(-1)  # @softmax
        return torch.einsum("bqk,bkd->bqd", attn, self.to_v(memory))


def run(trace):
    torch.manual_seed(0)
    model = CrossAttention()
    memory_mask = torch.ones(2, 5, dtype=torch.bool)
    memory_mask[1] = False  # item 1 has an empty memory
    with trace(model):
        loss = model(torch.randn(2, 3, 6), torch.randn(2, 5, 6), memory_mask).pow(2).mean()
        loss.backward()
    return {**dict(model.named_parameters()), "loss": loss.detach()}
