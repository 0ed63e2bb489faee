"""A shared projection used twice: once through a helper that reads ``.data`` (a "frozen copy" written by
hand) and once directly; a second encoder only reaches the loss through the helper. Truth: the shared
projection gets gradients (its direct use), the second encoder None. gradviz: ``enc2`` at the .data line;
``without`` it reaches ``enc2``."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "proj.weight": ("ok", "*"),
    "proj.bias": ("ok", "*"),
    "enc2.weight": ("data", "@cut"),
    "enc2.bias": ("data", "@cut"),
}
GRADS = {name: ("none" if name.startswith("enc2") else "nonzero") for name in EXPECT}


def frozen(t):
    return t.data  # @cut


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.enc2 = nn.Linear(4, 4)

    def forward(self, x):
        a = self.proj(x)
        b = self.proj(frozen(torch.sigmoid(self.enc2(x))))
        return (a * b).sum(-1, keepdim=True)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
