"""A numpy round trip in the middle of forward: `h.detach().numpy()` -> a numpy function ->
`torch.from_numpy`. Truth: no error; the encoder gets None, the head gets gradients.
Verdict: escaped, not detach. The `.detach()` is the op that technically ends the path and the first one a
tracer sees, but it exists only because `.numpy()` refuses tensors that require grad ("Can't call numpy() on
Tensor that requires grad. Use tensor.detach().numpy() instead."): the values left torch and came back as a
new tensor. The useful fix is "do it in torch" (removing `.detach()` would only trade this for that error).
Both calls are on one line, so where = that line either way."""

import numpy as np
import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "encoder.weight": ("escaped", "@np"),
    "encoder.bias": ("escaped", "@np"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("none" if name.startswith("encoder") else "nonzero") for name in EXPECT}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        h = self.encoder(x)
        arr = h.detach().numpy()  # @np
        h = torch.from_numpy(np.tanh(arr))
        return self.head(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
