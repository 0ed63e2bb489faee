"""Custom `torch.autograd.Function`s in forward: a gradient-reversal layer (forward `x.view_as(x)`, backward
`-grad`) and a hand-written exp that saves its output. Truth: every parameter gets a gradient. The inner ops
of `Function.forward` run with grad disabled and may produce the very tensor that later gets the Function's
grad_fn, so a tracer that trusts what it saw inside would report a false no_grad cut. gradviz: all ok."""

import torch
from torch import nn


class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = x.exp()
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


RAISES = None
NOTE = []
EXPECT = {
    "features.weight": ("ok", "*"),
    "features.bias": ("ok", "*"),
    "domain.weight": ("ok", "*"),
    "domain.bias": ("ok", "*"),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Linear(4, 8)
        self.domain = nn.Linear(8, 1)

    def forward(self, x):
        h = torch.tanh(self.features(x))
        h = GradReverse.apply(h)
        return Exp.apply(self.domain(h))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(8, 4)
    with trace(model):
        loss = model(x).mean()
        loss.backward()
    return model
