"""E3 (claims.md), the normal loop: `optimizer.zero_grad()` at the top of each iteration, before backward.
Articles say: "prevents accumulation, gives None". Truth: this is the standard loop; every step's backward
refills the gradients after zero_grad cleared the previous ones, so after the loop all gradients are there.
gradviz: all ok (the earlier zero_grad calls cleared gradients that were then recomputed: not `cleared`)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("ok", "*"), "bias": ("ok", "*")}
GRADS = {"weight": "nonzero", "bias": "nonzero"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    with trace(model, optimizer=opt):
        for _ in range(3):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
    return model
