"""Found by the fuzzer (seed 2026, program 1175). The head's output is only logged with .item() (NaN: its
input comes from log of a negative number); later another NaN number, the mean of that input, leaves
torch with .item() and comes back through torch.full into the loss. A number that comes back is the
latest escape of that number: the head's logged value did not come back, so the head is unused (its
value reaches no loss), not escaped."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"scale": ("nonfinite", "@log"), "head.weight": ("unused", None), "head.bias": ("unused", None)}
GRADS = {"scale": "nonfinite", "head.weight": "none", "head.bias": "none"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.full((4,), 1.5))
        self.head = nn.Linear(4, 4)

    def forward(self, x):
        h = torch.tanh(x * self.scale)
        g = torch.sigmoid(torch.log(x.tanh() - 1.5))  # @log
        self.last = self.head(g).sum().item()  # logged only
        return h + torch.full((3, 4), g.mean().item())


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(3, 4)
    with trace(model):
        loss = (model(x) - 1).pow(2).mean()
        loss.backward()
    return model
