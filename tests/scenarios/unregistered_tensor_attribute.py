"""A plain tensor attribute with requires_grad (`self.scale = torch.ones(1, requires_grad=True)`), not an
nn.Parameter. Truth: it is a leaf used in forward, so it gets a gradient, but it is not in
named_parameters() and the optimizer never updates it. gradviz: `scale` unregistered; the Linear ok."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "scale": ("unregistered", "*"),
    "linear.weight": ("ok", "*"),
    "linear.bias": ("ok", "*"),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)
        self.scale = torch.ones(1, requires_grad=True)

    def forward(self, x):
        return self.linear(x) * self.scale


def run(trace):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model, optimizer=opt):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    return model
