"""A path-length penalty (StyleGAN): `torch.autograd.grad((img * noise).sum(), w)` without
`create_graph=True`, then a loss computed from that gradient. The gradient carries no graph: backward raises
"element 0 of tensors does not require grad". Truth: that error; no gradient. gradviz: the cut is the
autograd.grad line (pass create_graph=True) — never `torch.randn_like(img)`, whose value does not depend on
the image at all."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = ["create_graph=true", "@grad"]
EXPECT = {"0.weight": ("no_grad", "@grad"), "0.bias": ("no_grad", "@grad")}
GRADS = {"0.weight": "none", "0.bias": "none"}
MESSAGE = {"0.weight": ["autograd.grad", "create_graph=true"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh())
    w = torch.randn(5, 2, requires_grad=True)
    with trace(model):
        img = model(w)
        noise = torch.randn_like(img)
        (g,) = torch.autograd.grad((img * noise).sum(), w)  # @grad
        penalty = g.square().sum(1).sqrt().mean()
        penalty.backward()
    return model
