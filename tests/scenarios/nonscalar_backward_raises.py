"""`backward()` on a non-scalar output without `gradient=`. Truth: RuntimeError "grad can be implicitly
created only for scalar outputs" at the backward line; no gradient anywhere. gradviz: every parameter error,
where = the backward line; the note mentions "scalar" and names that line."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = ["scalar", "@bw"]
EXPECT = {"weight": ("error", "@bw"), "bias": ("error", "@bw")}
GRADS = {"weight": "none", "bias": "none"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x = torch.randn(8, 4)
    with trace(model):
        out = model(x)
        out.backward()  # @bw
    return model
