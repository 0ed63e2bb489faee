"""Binarised activations with `torch.sign` and no straight-through estimator: sign's gradient is zero
everywhere, so the layer before it gets an exactly-zero gradient. Truth: fc1's gradients are zero, fc2's are
not. gradviz: zero at the sign line, with the straight-through fix for sign (the clipped identity
`s + (x.sign() - s).detach()`), not a round()-based one."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "fc1.weight": ("zero", "@sign"),
    "fc1.bias": ("zero", "@sign"),
    "fc2.weight": ("ok", "*"),
    "fc2.bias": ("ok", "*"),
}
GRADS = {"fc1.weight": "zero", "fc1.bias": "zero", "fc2.weight": "nonzero", "fc2.bias": "nonzero"}
MESSAGE = {"fc1.weight": ["step function", "x.sign()", "x.clamp(-1, 1)"]}
AVOID = {"fc1.weight": ["round"]}


class BinaryNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 8), nn.Linear(8, 1)

    def forward(self, x):
        return self.fc2(torch.sign(self.fc1(x)))  # @sign


def run(trace):
    torch.manual_seed(0)
    model = BinaryNet()
    with trace(model):
        loss = (model(torch.randn(5, 6)) - 1).pow(2).mean()
        loss.backward()
    return model
