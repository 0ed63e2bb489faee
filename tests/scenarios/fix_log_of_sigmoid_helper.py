"""A binary loss written in a helper as `-(y * torch.log(torch.sigmoid(z)) + (1 - y) * torch.log(1 -
torch.sigmoid(z)))` on large logits: sigmoid saturates to exactly 0 or 1 and a log is -inf. Truth: the loss
is Inf and the gradients NaN. gradviz: nonfinite at the helper's line, with the fix for a log of a sigmoid
(`F.logsigmoid` / `binary_cross_entropy_with_logits`)."""

import torch
from torch import nn

RAISES = None
NOTE = []
LOSS_NONFINITE = True
EXPECT = {"fc.weight": ("nonfinite", "@bce"), "fc.bias": ("nonfinite", "@bce")}
GRADS = {"fc.weight": "nonfinite", "fc.bias": "nonfinite"}
MESSAGE = {"fc.weight": ["f.logsigmoid", "binary_cross_entropy_with_logits"]}
AVOID = {"fc.weight": ["lower the learning rate"]}


def bce(z, y):
    return -(y * torch.log(torch.sigmoid(z)) + (1 - y) * torch.log(1 - torch.sigmoid(z))).mean()  # @bce


def run(trace):
    torch.manual_seed(0)
    model = nn.Module()
    model.fc = nn.Linear(3, 1)
    x = torch.randn(8, 3) * 200
    y = (torch.rand(8, 1) > 0.5).float()
    with trace(model):
        loss = bce(model.fc(x), y)
        loss.backward()
    return {**dict(model.named_parameters()), "loss": loss.detach()}
