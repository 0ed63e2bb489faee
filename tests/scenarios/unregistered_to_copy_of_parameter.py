"""`self.gain = nn.Parameter(torch.ones(1)).to(torch.float64)`: the `.to()` returns a plain tensor copy
(a non-leaf with a grad_fn), so the attribute is not a Parameter and the real leaf is hidden inside the
graph. Truth: `model.gain.grad` is None (reading it warns "The .grad attribute of a Tensor that is not a leaf
Tensor is being accessed"), it is not in named_parameters(), nothing trains it. gradviz: `gain` unregistered.
Note: on CPU `.to("cpu")` / `.to(torch.float32)` return the Parameter itself (no copy, no bug); the bug needs
a real device or dtype change, hence float64 here."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "gain": ("unregistered", "*"),
    "linear.weight": ("ok", "*"),
    "linear.bias": ("ok", "*"),
}
GRADS = {"gain": "none", "linear.weight": "nonzero", "linear.bias": "nonzero"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1, dtype=torch.float64)
        self.gain = nn.Parameter(torch.ones(1)).to(torch.float64)

    def forward(self, x):
        return self.linear(x) * self.gain


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
