"""A block run under ``no_grad`` in a step that calls ``backward(inputs=[...])`` for some parameters only.
Truth: ``u1`` (under no_grad) gets None, ``u3`` a gradient; ``u0`` and ``u2`` were not asked for. gradviz:
``u1`` at the no_grad, ``u0`` and ``u2`` not requested. Without the no_grad only ``u1`` would be reached
(``u2`` is reached then, but not asked for). Found by the fuzzer's what-if stage (seed 5, program 116)."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "u0": ("not_requested", "@backward"),
    "u1.weight": ("no_grad", "@off"),
    "u1.bias": ("no_grad", "@off"),
    "u2": ("not_requested", "@backward"),
    "u3": ("ok", "*"),
}
GRADS = {"u0": "none", "u1.weight": "none", "u1.bias": "none", "u2": "none", "u3": "nonzero"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u0 = nn.Parameter(torch.rand(4) + 0.5)
        self.u1 = nn.Linear(4, 4)
        self.u2 = nn.Parameter(torch.rand(4) + 0.5)
        self.u3 = nn.Parameter(torch.randn(4, 4) * 0.5)

    def forward(self, x):
        h1 = x * self.u0
        with torch.no_grad():  # @off
            h2 = self.u1(h1)
        h3 = h2 * self.u2
        return h1 + h3 + F.linear(x, self.u3)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(3, 4)
    with trace(model):
        loss = model(x).abs().sum()
        loss.backward(inputs=[model.u1.weight, model.u1.bias, model.u3])  # @backward
    return model
