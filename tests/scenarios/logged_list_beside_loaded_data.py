"""A head's output is logged as a list (`.detach().tolist()`, a metric), and the loss is computed from
features made before that escape and a target loaded before the trace, both of the escaped value's shape.
Nothing that left torch comes back: the head is simply not in the loss. Truth: the head's `.grad` stays
None, the rest learn. gradviz: head unused (not `escaped`: a tensor in memory torch allocated is data, not
values come back from numpy; NOTE [escaped means it came back])."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "proj": ("ok", None),
    "aux.weight": ("unused", None),
    "aux.bias": ("unused", None),
}
GRADS = {"proj": "nonzero", "aux.weight": "none", "aux.bias": "none"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.aux = nn.Linear(4, 4)
        self.proj = nn.Parameter(torch.randn(4, 4))
        self.logged = None

    def forward(self, x):
        feats = torch.tanh(x)  # made before the escape, used after it
        self.logged = self.aux(x).detach().tolist()  # a metric: leaves torch, never comes back
        return feats @ self.proj


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
