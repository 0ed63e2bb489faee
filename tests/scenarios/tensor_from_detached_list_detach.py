"""`torch.tensor([h.detach() for h in parts])`: the values are detached inside the list, then rebuilt. Truth:
the encoder gets no gradient. gradviz: `detach` (the .detach() inside), at that line."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"enc.weight": ("detach", "@cut"), "enc.bias": ("detach", "@cut"), "w": ("ok", "*")}
GRADS = {"enc.weight": "none", "enc.bias": "none", "w": "nonzero"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(3, 1)
        self.w = nn.Parameter(torch.ones(4))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    xs = torch.randn(4, 3)
    with trace(model):
        scores = torch.tensor([model.enc(x).detach()[0] for x in xs])  # @cut
        loss = (model.w * scores).sum()
        loss.backward()
    return model
