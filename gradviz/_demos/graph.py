"""The two-layer MLP of notebook 02, to read its autograd graph node by node (healthy, then cut)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from gradviz._demos._base import demo


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(4, 1)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        return self.fc2(h)


class CutMLP(MLP):
    def forward(self, x):
        h = torch.relu(self.fc1(x)).detach()
        return self.fc2(h)


@demo("graph", {"*": "ok"}, build=MLP)
def two_layer_mlp(model, opt):
    """A healthy two-layer MLP: its autograd graph, node by node."""
    x, y = torch.randn(5, 3), torch.randn(5, 1)
    loss = F.mse_loss(model(x), y)
    loss.backward()


@demo("graph", {"fc1.*": "detach", "fc2.*": "ok"}, build=CutMLP, where={"fc1.*": ".detach()"})
def two_layer_mlp_cut(model, opt):
    """The same MLP with `.detach()` after fc1: red parameters hang off a ✂ marker."""
    x, y = torch.randn(5, 3), torch.randn(5, 1)
    loss = F.mse_loss(model(x), y)
    loss.backward()
