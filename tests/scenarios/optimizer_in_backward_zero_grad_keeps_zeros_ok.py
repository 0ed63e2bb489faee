"""An optimizer step fused into backward (`register_post_accumulate_grad_hook`) that ends with
`zero_grad(set_to_none=False)`: `.grad` is a zero tensor afterwards, by design. Truth: each weight moved
(the step used a finite gradient); `.grad` is exactly zero. gradviz: ok (a step used it), not cleared: the
hook changed the weights during the backward, which is how the step is seen."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = dict.fromkeys(("0.weight", "0.bias", "2.weight", "2.bias"), ("ok", None))
GRADS = dict.fromkeys(EXPECT, "zero")
CONSUMED = list(EXPECT)
MESSAGE = {"0.weight": ["optimizer step used"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizers = {p: torch.optim.SGD([p], lr=0.1) for p in model.parameters()}

    def step_in_backward(p):
        p.consumed_norm = float(p.grad.norm())
        optimizers[p].step()
        optimizers[p].zero_grad(set_to_none=False)

    for p in model.parameters():
        p.register_post_accumulate_grad_hook(step_in_backward)
    with trace(model):
        model(torch.randn(16, 4)).pow(2).mean().backward()
    return model
