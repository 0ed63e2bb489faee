"""A siamese encoder called on two inputs; only one path carries the NaN: `sqrt` of pairwise squared
distances, which are 0 on the diagonal. Truth: sqrt's backward is Inf at 0, then 0 × Inf = NaN through the
square; weight and bias get NaN gradients. The other call's path (`f = m(y)`) is finite all along.
gradviz: nonfinite, born in the backward of sqrt at the loss line — never "in the backward of linear at
`f = m(y)`" (the first finite node above the parameter on the wrong path), never an overflow story."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("nonfinite", "@loss"), "bias": ("nonfinite", "@loss")}
GRADS = {"weight": "nonfinite", "bias": "nonfinite"}
MESSAGE = {"weight": ["backward of sqrt", "0 × inf", "epsilon"]}


def run(trace):
    torch.manual_seed(0)
    m = nn.Linear(4, 3)
    x, y = torch.randn(5, 4), torch.randn(5, 4)
    with trace(m):
        e = m(x)
        f = m(y)
        loss = torch.sqrt(((e[:, None] - e[None]) ** 2).sum(-1)).mean() + f.pow(2).mean()  # @loss
        loss.backward()
    return m
