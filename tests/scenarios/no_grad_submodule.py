"""`with torch.no_grad():` around the encoder call inside forward. Truth: encoder parameters get None,
the head gets gradients, no exception. gradviz: encoder no_grad, where = the `with torch.no_grad():` line
(the user's own switch; the encoder call inside it is named in the message)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "encoder.weight": ("no_grad", "@ng"),
    "encoder.bias": ("no_grad", "@ng"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("none" if name.startswith("encoder") else "nonzero") for name in EXPECT}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        with torch.no_grad():  # @ng
            h = self.encoder(x)
        return self.head(torch.tanh(h))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
