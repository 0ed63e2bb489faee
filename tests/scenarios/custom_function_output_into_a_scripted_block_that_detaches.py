"""The class of fuzzer seed 4242, program 2028, in another spelling: a custom `autograd.Function` (its
forward runs with gradients off) whose output goes straight into a `torch.jit.script`ed block that detaches
inside. Truth: the Function's weight and the layer before it get no gradient; the head learns. gradviz:
non_differentiable at the scripted call. It said no_grad (gradients off inside the Function's forward): the
cut made there is taken back once the Function attaches its node, and a TorchScript module's inputs were not
looked at that way."""

import warnings

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "w": ("non_differentiable", "@script"),
    "u0.weight": ("non_differentiable", "@script"),
    "u0.bias": ("non_differentiable", "@script"),
    "block.lin.weight": ("non_differentiable", "@script"),
    "block.lin.bias": ("non_differentiable", "@script"),
}
GRADS = dict.fromkeys(EXPECT, "none")


class MatMul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, w):
        ctx.save_for_backward(h, w)
        return h @ w

    @staticmethod
    def backward(ctx, grad):
        h, w = ctx.saved_tensors
        return grad @ w.t(), h.t() @ grad


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, h):
        return torch.tanh(self.lin(h)).detach()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u0 = nn.Linear(4, 4)
        self.w = nn.Parameter(torch.randn(4, 4))
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; models still use it
            warnings.simplefilter("ignore", DeprecationWarning)
            self.block = torch.jit.script(Block())
        self.head = nn.Linear(4, 4)

    def forward(self, x):
        return self.block(MatMul.apply(self.u0(x), self.w)) + self.head(x)  # @script


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        model(torch.randn(3, 4)).pow(2).mean().backward()
    return model
