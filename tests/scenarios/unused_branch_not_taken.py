"""An auxiliary head behind a flag that is off in this forward. Truth: its parameters get None (they never
took part), the rest get gradients, no exception. gradviz: aux unused, where None (no line explains an
absence)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "body.weight": ("ok", "*"),
    "body.bias": ("ok", "*"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
    "aux.weight": ("unused", None),
    "aux.bias": ("unused", None),
}
GRADS = {name: ("none" if name.startswith("aux") else "nonzero") for name in EXPECT}


class Net(nn.Module):
    def __init__(self, use_aux=False):
        super().__init__()
        self.use_aux = use_aux
        self.body = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)
        self.aux = nn.Linear(8, 1)

    def forward(self, x):
        h = torch.tanh(self.body(x))
        out = self.head(h)
        if self.use_aux:
            out = out + self.aux(h)
        return out


def run(trace):
    torch.manual_seed(0)
    model = Net(use_aux=False)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
