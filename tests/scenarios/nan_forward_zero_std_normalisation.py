"""Normalising features by their standard deviation, `(h - h.mean(0)) / h.std(0)`, when one feature is
constant over the batch: 0/0 = NaN in the forward. Truth: NaN gradients. gradviz: nonfinite at the division
line ("dividing by 0"), fix: add an epsilon to the denominator."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"enc.weight": ("nonfinite", "@div"), "enc.bias": ("nonfinite", "@div")}
GRADS = {"enc.weight": "nonfinite", "enc.bias": "nonfinite"}
MESSAGE = {"enc.weight": ["forward of", "dividing by 0", "epsilon"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(3, 2)

    def forward(self, x):
        h = self.enc(x)
        return (h - h.mean(0)) / h.std(0)  # @div


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with torch.no_grad():
        model.enc.weight[1].zero_()  # feature 1 is constant (its bias) for every input
    with trace(model):
        loss = model(torch.randn(8, 3)).pow(2).mean()
        loss.backward()
    return model
