"""E3 (claims.md), read after zero_grad: the loop calls `optimizer.zero_grad()` after `step()`, and `.grad` is
read after the loop. Truth: every `.grad` is None at the end, because `zero_grad()` defaults to
`set_to_none=True` (not zeros), and the model did train: the weights moved. gradviz: ok (each step used the
gradient), and the message says which call removed it — not "removed before it was read" (issue 19)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("ok", None), "bias": ("ok", None)}
GRADS = {"weight": "none", "bias": "none"}
STEPPED = ["weight", "bias"]
MESSAGE = {"weight": ["which the optimizer step used", "opt.zero_grad()"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for p in model.parameters():
        p.initial = p.detach().clone()
    with trace(model, optimizer=opt):
        for _ in range(3):
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
    return model
