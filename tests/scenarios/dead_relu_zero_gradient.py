"""A dead ReLU layer: fc1's bias is -100, so relu(fc1(x)) is 0 for every input. Truth: no error; fc1.weight
and fc1.bias get exact-zero gradients (relu passes no gradient where its input is negative), and so does
fc2.weight (its gradient is activations^T @ grad, and the activations are all zero); fc2.bias gets a normal
gradient. gradviz: fc1 zero at the relu line; fc2.weight zero with any where: its zero comes from the dead
activations of the relu line but is produced at the fc2 call, both are defensible; fc2.bias ok."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "fc1.weight": ("zero", "@relu"),
    "fc1.bias": ("zero", "@relu"),
    "fc2.weight": ("zero", "*"),
    "fc2.bias": ("ok", "*"),
}
GRADS = {"fc1.weight": "zero", "fc1.bias": "zero", "fc2.weight": "zero", "fc2.bias": "nonzero"}
MESSAGE = {"fc1.weight": ["relu", "units are dead"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 1)
        with torch.no_grad():
            self.fc1.bias.fill_(-100.0)

    def forward(self, x):
        z = self.fc1(x)
        h = torch.relu(z)  # @relu
        return self.fc2(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
