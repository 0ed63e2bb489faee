"""A step without `zero_grad()`: the weight's `.grad` still holds NaN from an earlier step when the traced
backward begins, and the new, finite gradient is added to it. Truth: `.grad` is NaN after the step (the
optimizer would read NaN); the bias, whose old `.grad` was finite, is finite. gradviz: nonfinite for the
weight, with no line in the trace (the NaN was there before it) and the zero_grad() fix. It said "ok" with
a gradient norm of nan: what arrived was finite."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("nonfinite", None)}
GRADS = {"weight": "nonfinite", "bias": "nonzero"}
MESSAGE = {"weight": ["already in .grad", "zero_grad()"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 4)
    model.weight.grad = torch.full((4, 4), float("nan"))  # left from an earlier step
    model.bias.grad = torch.ones(4)
    with trace(model):
        model(torch.randn(3, 4)).pow(2).mean().backward()
    return model
