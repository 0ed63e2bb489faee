"""E3 (claims.md), read after zero_grad: the loop calls `optimizer.zero_grad()` after `step()`, and `.grad` is
read after the loop. Truth: every `.grad` is None at the end, because `zero_grad()` defaults to
`set_to_none=True` (not zeros). The model did train. gradviz: cleared, where = the zero_grad line."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("cleared", "@clear"), "bias": ("cleared", "@clear")}
GRADS = {"weight": "none", "bias": "none"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    with trace(model, optimizer=opt):
        for _ in range(3):
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()  # @clear
    return model
