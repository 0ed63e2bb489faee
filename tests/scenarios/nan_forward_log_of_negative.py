"""An error measured in log space, `(torch.log(pred) - target) ** 2`, where the model's output can be
negative. Truth: NaN in the forward, NaN gradients for the layer (the backward multiplies by log(pred)).
gradviz: nonfinite at the log line ("forward of log ... negative input"), fix: clamp before log."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("nonfinite", "@log"), "bias": ("nonfinite", "@log")}
GRADS = {"weight": "nonfinite", "bias": "nonfinite"}
MESSAGE = {"weight": ["forward of log", "negative", "clamp"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    x = torch.randn(16, 4)
    with trace(model):
        pred = model(x)
        loss = ((torch.log(pred) - 1.0) ** 2).mean()  # @log
        loss.backward()
    return model
