"""`.detach()` between an encoder and a trainable head (e.g. copied from a "stop-gradient" recipe).
Truth: no exception (the head still connects the loss to a graph); the encoder gets None, the head gets
gradients. This is the silent form of C2. gradviz: encoder detach at the detach line, head ok."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "encoder.weight": ("detach", "@cut"),
    "encoder.bias": ("detach", "@cut"),
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
        h = torch.tanh(self.encoder(x))
        h = h.detach()  # @cut
        return self.head(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
