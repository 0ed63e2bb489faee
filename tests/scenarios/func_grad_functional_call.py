"""Gradients computed functionally inside the trace: `torch.func.grad(loss_fn)(params, x)` with
`functional_call(model, params, x)`. Truth: the model's `.grad` stay None (torch.func returns gradients),
and the returned gradients are finite and non-zero. gradviz used to call every parameter unused; now ok,
saying the gradient was returned. (GRADS reads the returned gradients: run() puts each on a holder's
.grad.)"""

import torch
from torch import nn
from torch.func import functional_call, grad

RAISES = None
NOTE = []
EXPECT = {"weight": ("ok", None), "bias": ("ok", None)}
GRADS = {"weight": "nonzero", "bias": "nonzero"}
MESSAGE = {"weight": ["returned"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x = torch.randn(4, 3)

    def loss_fn(params, x):
        return functional_call(model, params, (x,)).pow(2).mean()

    with trace(model):
        grads = grad(loss_fn)(dict(model.named_parameters()), x)
    holders = {}
    for name, g in grads.items():
        holders[name] = torch.zeros_like(g)
        holders[name].grad = g  # the truth reads .grad: here, the gradient torch.func returned
    return holders
