"""Layers kept in a plain Python list (`self.layers = [nn.Linear(...), ...]`) instead of nn.ModuleList.
Truth: they are used in forward and DO get gradients, but `named_parameters()` (and so the optimizer built
from it) never sees them: they never train. gradviz: `layers.0.weight` ... unregistered (more specific than
not_in_optimizer); the registered head ok. No single line explains it, so any where is accepted."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "layers.0.weight": ("unregistered", "*"),
    "layers.0.bias": ("unregistered", "*"),
    "layers.1.weight": ("unregistered", "*"),
    "layers.1.bias": ("unregistered", "*"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(4, 8), nn.Linear(8, 8)]
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return self.head(x)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model, optimizer=opt):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    return model
