"""Two cuts in series: the encoder's output is detached, then a middle block runs under no_grad before a
trainable head. Truth: encoder and middle None, head gradients. gradviz: encoder at the detach, middle at
the no_grad; ``without`` the detach still leaves the encoder unreached (the no_grad cuts it too), and
``without`` the no_grad reaches the middle only."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "encoder.weight": ("detach", "@detach"),
    "encoder.bias": ("detach", "@detach"),
    "middle.weight": ("no_grad", "@off"),
    "middle.bias": ("no_grad", "@off"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("nonzero" if name.startswith("head") else "none") for name in EXPECT}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 8)
        self.middle = nn.Linear(8, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        h = torch.relu(self.encoder(x)).detach()  # @detach
        with torch.no_grad():  # @off
            h = torch.tanh(self.middle(h))
        return self.head(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
