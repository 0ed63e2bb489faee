"""`F.relu(h, inplace=True)` on the output of sigmoid, which sigmoid saved for its backward. The op's name
(`relu`) has no trailing underscore: only the tensor's version counter says it wrote. Truth: backward
raises "modified by an inplace operation ... output 0 of SigmoidBackward0, is at version 1". gradviz: error
at the relu line, the note names relu(inplace=True) and that line."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = RuntimeError
NOTE = ["relu(inplace=true)", "@inplace"]
EXPECT = {"weight": ("error", "@inplace"), "bias": ("error", "@inplace")}
GRADS = {"weight": "none", "bias": "none"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x = torch.randn(8, 4)
    with trace(model):
        h = torch.sigmoid(model(x))
        F.relu(h, inplace=True)  # @inplace
        loss = h.sum()
        loss.backward()
    return model
