"""A helper decorated with `@torch.no_grad()` computes the features the head trains on. Truth: the encoder
gets no gradient. gradviz: no_grad, where = the line that calls the decorated helper (the user's own switch),
the op inside it named in the message."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "enc.weight": ("no_grad", "@call"),
    "enc.bias": ("no_grad", "@call"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("none" if name.startswith("enc") else "nonzero") for name in EXPECT}
MESSAGE = {"enc.weight": ["turned it off", "self.enc(x)"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    @torch.no_grad()
    def features(self, x):
        return torch.tanh(self.enc(x))

    def forward(self, x):
        h = self.features(x)  # @call
        return self.head(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(8, 4)).pow(2).mean()
        loss.backward()
    return model
