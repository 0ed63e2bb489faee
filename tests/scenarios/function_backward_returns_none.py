"""A custom autograd.Function whose backward returns None for the weight (e.g. a hand-written op whose author
only wrote the input gradient). Truth: no error, `scale.grad` is None, the input path still trains `enc`.
gradviz used to call `scale` ok (its AccumulateGrad is in the graph). Now: non_differentiable, where = the
`apply` line, the message naming the Function."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "scale": ("non_differentiable", "@apply"),
    "enc.weight": ("ok", "*"),
    "enc.bias": ("ok", "*"),
}
GRADS = {"scale": "none", "enc.weight": "nonzero", "enc.bias": "nonzero"}
MESSAGE = {"scale": ["ScaleBy", "returns None"]}


class ScaleBy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, s):
        ctx.save_for_backward(s)
        return x * s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s, None  # forgot the gradient of s


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 3)
        self.scale = nn.Parameter(torch.full((3,), 2.0))

    def forward(self, x):
        return ScaleBy.apply(self.enc(x), self.scale)  # @apply


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(8, 4)).pow(2).mean()
        loss.backward()
    return model
