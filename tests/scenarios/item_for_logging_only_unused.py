"""An auxiliary head whose value is only logged with `.item()`: nothing comes back into the loss. Truth: the
head gets no gradient (it does not take part in the loss), like a head whose output is discarded.
gradviz: unused (never `escaped`: escaping needs a value that comes back); the message says where the
value left torch and that, for logging, that is fine."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"aux.weight": ("unused", None), "aux.bias": ("unused", None)}
GRADS = {"aux.weight": "none", "aux.bias": "none"}
MESSAGE = {"aux.weight": ["left torch through .item()", "for logging, that is fine"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)
        self.aux = nn.Linear(8, 1)
        self.logged: list[float] = []

    def forward(self, x):
        h = self.enc(x).relu()
        self.logged.append(self.aux(h).mean().item())
        return self.head(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(5, 4), torch.randn(5, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
