"""A post-accumulate-grad hook that zeroes the weight's gradient in place as soon as it is accumulated (a
"freeze" written as a hook), with no optimizer step in it. Truth: `.grad` is exactly zero after backward;
the bias learns. gradviz: cleared at the hook's write. It said "ok ... a finite, non-zero gradient": what
arrived was measured before the hook ran, and the hook's write was not looked at."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("cleared", "@zero")}
GRADS = {"weight": "zero", "bias": "nonzero"}


def freeze(p):
    p.grad.zero_()  # @zero


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 4)
    model.weight.register_post_accumulate_grad_hook(freeze)
    with trace(model):
        model(torch.randn(3, 4)).pow(2).mean().backward()
    return model
