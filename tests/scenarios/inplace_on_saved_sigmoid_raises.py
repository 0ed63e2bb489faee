"""An in-place op on a tensor saved for backward: `h = torch.sigmoid(z); h.mul_(2)`. sigmoid saves its output.
Truth: the forward runs; backward raises RuntimeError "one of the variables needed for gradient computation
has been modified by an inplace operation: [torch.FloatTensor [8, 3]], which is output 0 of Sigmoid, is at
version 1; expected version 0 instead. Hint: enable anomaly detection ...". Anomaly mode's forward traceback
points at the sigmoid line (where the tensor was saved); the line to fix is the in-place one. gradviz:
every parameter error, where = the `mul_` line (NOT the sigmoid line); the note says in-place and names
that line."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = [("in-place", "inplace"), "@inplace"]
EXPECT = {"weight": ("error", "@inplace"), "bias": ("error", "@inplace")}
GRADS = {"weight": "none", "bias": "none"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x = torch.randn(8, 4)
    with trace(model):
        z = model(x)
        h = torch.sigmoid(z)
        h.mul_(2)  # @inplace
        loss = h.sum()
        loss.backward()
    return model
