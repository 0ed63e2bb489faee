"""Meta-learning's inner step: `torch.autograd.grad(loss, fast_weights)` for a subset of the parameters (the
head), the rest being the body. Truth: autograd.grad stores nothing in `.grad`: every `.grad` stays None;
the head's gradients are returned. gradviz: head ok (returned); body `not_requested` at the grad line.
(GRADS reads the returned gradients: run() puts each on its parameter's .grad after the trace.)"""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "head.weight": ("ok", None),
    "head.bias": ("ok", None),
    "body.weight": ("not_requested", "@inner"),
    "body.bias": ("not_requested", "@inner"),
}
GRADS = {"head.weight": "nonzero", "head.bias": "nonzero", "body.weight": "none", "body.bias": "none"}


def run(trace):
    torch.manual_seed(0)
    model = nn.ModuleDict({"body": nn.Linear(3, 4), "head": nn.Linear(4, 1)})
    x, y = torch.randn(6, 3), torch.randn(6, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model["head"](model["body"](x).tanh()), y)
        grads = torch.autograd.grad(loss, list(model["head"].parameters()))  # @inner
    for p, g in zip(model["head"].parameters(), grads, strict=True):
        p.grad = g
    return model
