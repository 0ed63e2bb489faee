"""PyTorch's own memory-saving recipe: one optimizer per parameter, stepped from
`register_post_accumulate_grad_hook`, which then sets `p.grad = None`. Truth: every weight is updated during
backward; `.grad` is None afterwards by design. gradviz: ok for every parameter (the gradient arrived and
was consumed) — never `non_differentiable` ("use an op that is differentiable") nor `cleared`."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = dict.fromkeys(("0.weight", "0.bias", "2.weight", "2.bias"), ("ok", None))
GRADS = dict.fromkeys(EXPECT, "none")
CONSUMED = list(EXPECT)
MESSAGE = {"0.weight": ["hook took", "by design"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizers = {p: torch.optim.SGD([p], lr=0.1) for p in model.parameters()}

    def step_in_backward(p):
        p.consumed_norm = float(p.grad.norm())
        optimizers[p].step()
        p.grad = None

    for p in model.parameters():
        p.register_post_accumulate_grad_hook(step_in_backward)
    x = torch.randn(16, 4)
    with trace(model):
        loss = model(x).pow(2).mean()
        loss.backward()
    return model
