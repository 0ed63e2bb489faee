"""`nn.LeakyReLU(inplace=True)` then `nn.Dropout(inplace=True)` (in training mode) on a sigmoid's output.
LeakyReLU in place is fine on its own (its backward uses its result); Dropout then writes that result
again. Truth: backward raises "... output 0 of LeakyRelu1, is at version 2; expected version 1": the
dropout line is the culprit, not the leaky_relu line and not the sigmoid line. gradviz: error at the
dropout line; the note names dropout(inplace=True)."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = ["dropout(inplace=true)", "@drop"]
EXPECT = {"0.weight": ("error", "@drop"), "0.bias": ("error", "@drop")}
GRADS = {"0.weight": "none", "0.bias": "none"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.LeakyReLU(inplace=True))
    drop = nn.Dropout(0.5, inplace=True).train()
    x = torch.randn(8, 4)
    with trace(model):
        h = model(x)
        drop(h)  # @drop
        loss = h.sum()
        loss.backward()
    return model
