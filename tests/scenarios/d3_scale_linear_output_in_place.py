"""D3 (claims.md): `t = self.linear(x); t *= 2.0` (in place). Articles say: "in-place breaks gradients".
Truth: normal gradients, no error: linear's backward needs its input and weight, not its output, so changing
the output in place is harmless. (The same `*=` on a sigmoid/relu output raises at backward, because those
ops save their output: see inplace_on_saved_sigmoid_raises.)"""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"linear.weight": ("ok", "*"), "linear.bias": ("ok", "*")}
GRADS = {"linear.weight": "nonzero", "linear.bias": "nonzero"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, x):
        t = self.linear(x)
        t *= 2.0
        return t


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
