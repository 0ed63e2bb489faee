"""Found by the fuzzer (seed 123457, program 8491). The forward logs a value of the scale with .item(), and
takes an inner derivative with torch.autograd.grad (a step of the computation); the step's first
backward is of a loss computed from the data alone, which raises before the loss that uses the scale is
backpropagated. The error is why the scale got nothing: the inner autograd.grad, which differentiated
through it, is no loss, and the logged value never came back."""

import torch
from torch import nn

RAISES = RuntimeError  # element 0 of tensors does not require grad and does not have a grad_fn
NOTE = []
EXPECT = {"scale": ("error", "@first")}
GRADS = {"scale": "none"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.rand(4) + 0.5)

    def forward(self, x):
        self.last = (x * self.scale).sum().item()  # logged only
        h = x * self.scale
        slope = torch.autograd.grad((h * h).sum(), h)[0]
        return x, slope


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(3, 4)
    with trace(model):
        a, b = model(x)
        a.pow(2).mean().backward(retain_graph=True)  # @first
        b.pow(2).mean().backward()
    return model
