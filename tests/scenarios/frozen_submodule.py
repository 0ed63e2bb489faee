"""A frozen pretrained encoder (`requires_grad_(False)` on all its parameters) under a trainable head.
Truth: encoder parameters get None, head parameters get gradients, no exception. gradviz: encoder frozen
(frozen before the trace: where None), head ok."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "encoder.0.weight": ("frozen", None),
    "encoder.0.bias": ("frozen", None),
    "encoder.2.weight": ("frozen", None),
    "encoder.2.bias": ("frozen", None),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("nonzero" if name.startswith("head") else "none") for name in EXPECT}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8))
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.encoder(x))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    model.encoder.requires_grad_(False)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
