"""A gate built from a comparison, `(self.gate(x) > 0).float()`, multiplying a value path.
Truth: comparisons return bool tensors with no gradient, so the gate layer gets None; the value layer gets
gradients; no exception. gradviz: gate non_differentiable at the comparison line, value ok."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "gate.weight": ("non_differentiable", "@cmp"),
    "gate.bias": ("non_differentiable", "@cmp"),
    "value.weight": ("ok", "*"),
    "value.bias": ("ok", "*"),
}
GRADS = {name: ("none" if name.startswith("gate") else "nonzero") for name in EXPECT}


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(4, 8)
        self.value = nn.Linear(4, 8)

    def forward(self, x):
        mask = (self.gate(x) > 0).float()  # @cmp
        return self.value(x) * mask


def run(trace):
    torch.manual_seed(0)
    model = Gated()
    x = torch.randn(16, 4)
    with trace(model):
        loss = model(x).pow(2).mean()
        loss.backward()
    return model
