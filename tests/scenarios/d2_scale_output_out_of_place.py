"""D2 (claims.md): `t = self.linear(x); out = t * 2.0`. Articles say: "creates a copy that detaches".
Truth: nothing is detached; the multiplication is part of the graph and both parameters get gradients."""

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
        out = t * 2.0
        return out  # noqa: RET504  (the article's shape, verbatim)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
