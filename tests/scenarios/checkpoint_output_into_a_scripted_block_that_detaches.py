"""Found by the differential fuzzer (seed 4242, program 2028): a reentrant `checkpoint` whose input requires
grad, its output fed straight into a `torch.jit.script`ed block that detaches inside. Truth: the checkpointed
layer and the one before it get no gradient (every path ends in the TorchScript detach); the head learns.
gradviz: non_differentiable at the scripted call, cut inside TorchScript. It said "checkpoint ... whose
inputs do not require grad" (false): the checkpoint's forward runs with gradients off, and the cut that
records is taken back when its output, which has a node, is next used; a TorchScript module's inputs were
not looked at that way."""

import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = {
    "u0.weight": ("non_differentiable", "@script"),
    "u0.bias": ("non_differentiable", "@script"),
    "u1.weight": ("non_differentiable", "@script"),
    "u1.bias": ("non_differentiable", "@script"),
    "block.lin.weight": ("non_differentiable", "@script"),
    "block.lin.bias": ("non_differentiable", "@script"),
}
GRADS = dict.fromkeys(EXPECT, "none")


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
        self.u1 = nn.Linear(4, 4)
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; models still use it
            warnings.simplefilter("ignore", DeprecationWarning)
            self.block = torch.jit.script(Block())
        self.head = nn.Linear(4, 4)

    def forward(self, x):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            h = checkpoint(self.u1, self.u0(x), use_reentrant=True)
        return self.block(h) + self.head(x)  # @script


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        model(torch.randn(3, 4)).pow(2).mean().backward()
    return model
