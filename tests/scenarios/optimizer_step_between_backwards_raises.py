"""Two losses from one forward: backward on the first (retain_graph=True), `optimizer.step()`, then backward
on the second. The step modified the weights in place, and the second backward needs them as they were.
Truth: RuntimeError "modified by an inplace operation". gradviz: every parameter whose gradient the second
backward should have produced is `error` with the `opt.step()` line (the in-place update), not `cleared`
at the zero_grad line."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = ["in-place", "@step"]
EXPECT = {"0.weight": ("error", "@step"), "2.weight": ("error", "@step")}
GRADS = {"0.weight": "none", "2.weight": "none"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8, bias=False), nn.Tanh(), nn.Linear(8, 1, bias=False))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(8, 4)
    with trace(model, optimizer=opt):
        out = model(x)
        first, second = out.mean(), out.pow(2).mean()
        first.backward(retain_graph=True)
        opt.step()  # @step
        opt.zero_grad()
        second.backward()
    return model
