"""A custom autograd.Function whose backward decays a weight it was handed (`ctx.w.mul_` under no_grad)
while the layer's first use still holds that weight for backward. Truth: backward raises RuntimeError
"... modified by an inplace operation ..."; no gradient reaches `.grad`. gradviz: error at the `mul_` in
the Function's backward (NOTE [writes during a backward]: the backward of the user's Functions met in the
graph runs under a mode that records writes). It said "an op gradviz did not see" at the `backward()`
line."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = [("in-place", "inplace"), "@write"]
EXPECT = {"l.weight": ("error", "@write"), "l.bias": ("error", "@write")}
GRADS = {"l.weight": "none", "l.bias": "none"}


class DecayingScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, w):
        ctx.w = w
        return h * 2

    @staticmethod
    def backward(ctx, grad):
        with torch.no_grad():
            ctx.w.mul_(0.99)  # @write
        return grad * 2, None


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 4)

    def forward(self, x):
        h = DecayingScale.apply(self.l(x), self.l.weight)
        return self.l(torch.tanh(h))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(3, 4, requires_grad=True)
    with trace(model):
        model(x).sum().backward()
    return model
