"""After backward, a `torch.jit.script`ed function multiplies the weight's `.grad` by 0 in place: the
tracer sees no op inside TorchScript. Truth: `.grad` is exactly zero; the bias learns. gradviz: cleared,
with no line ("code gradviz does not see into ... wrote them"), never "ok": a finite gradient arrived and
.grad holds zeros. It said "ok" with a norm of 0."""

import warnings

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"weight": ("cleared", None)}
GRADS = {"weight": "zero", "bias": "nonzero"}
MESSAGE = {"weight": ["does not see into"]}

with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; code still uses it
    warnings.simplefilter("ignore", DeprecationWarning)

    @torch.jit.script
    def mask_grad(g: torch.Tensor) -> None:
        g.mul_(0.0)


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(4, 4)
    with trace(model):
        model(torch.randn(3, 4)).pow(2).mean().backward()
        mask_grad(model.weight.grad)
    return model
