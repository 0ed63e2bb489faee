"""Standardising features by hand, `(h - h.mean(0)) / h.std(0)`, where one feature is constant over the
batch (a ReLU unit that is 0 for every input): 0 / 0 = NaN. Truth: the loss and gradients are NaN. gradviz:
nonfinite at the division, with the fix: guard the denominator (an epsilon, or F.normalize / layer_norm)."""

import torch
from torch import nn

RAISES = None
NOTE = []
LOSS_NONFINITE = True
EXPECT = {
    "enc.weight": ("nonfinite", "@div"),
    "enc.bias": ("nonfinite", "@div"),
    "head.weight": ("nonfinite", "@div"),
}
GRADS = {"enc.weight": "nonfinite", "enc.bias": "nonfinite", "head.weight": "nonfinite"}
MESSAGE = {"enc.weight": ["(x.std() + 1e-5)"]}
AVOID = {"enc.weight": ["lower the learning rate"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(3, 4)
        self.head = nn.Linear(4, 1, bias=False)
        with torch.no_grad():
            self.enc.bias[0] = -100.0  # unit 0 is dead: constant 0 over the batch

    def forward(self, x):
        h = torch.relu(self.enc(x))
        return self.head((h - h.mean(0)) / h.std(0))  # @div


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(8, 3)).pow(2).mean()
        loss.backward()
    return {**dict(model.named_parameters()), "loss": loss.detach()}
