"""forward stores a detached side value for logging (`self.last_act_mean = h.detach().mean()`) and returns the
real output. Truth: every parameter gets a gradient; the detach is on a branch that never reaches the loss,
and the stored attribute does not require grad (so it is not an unregistered tensor either). gradviz: all
ok."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "fc1.weight": ("ok", "*"),
    "fc1.bias": ("ok", "*"),
    "fc2.weight": ("ok", "*"),
    "fc2.bias": ("ok", "*"),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 1)
        self.last_act_mean = None

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        self.last_act_mean = h.detach().mean()
        return self.fc2(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
