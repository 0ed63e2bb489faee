"""A3 (claims.md): the fix of A2, `x = x * 2` (out of place) on the input that requires grad.
Articles say: works. Truth: works; every parameter gets a gradient (and so does the input)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "input_layer.weight": ("ok", "*"),
    "input_layer.bias": ("ok", "*"),
    "hidden.weight": ("ok", "*"),
    "hidden.bias": ("ok", "*"),
}
GRADS = {
    "input_layer.weight": "nonzero",
    "input_layer.bias": "nonzero",
    "hidden.weight": "nonzero",
    "hidden.bias": "nonzero",
    "input": "nonzero",
}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layer = nn.Linear(4, 8)
        self.hidden = nn.Linear(8, 1)

    def forward(self, x):
        x = x * 2
        x = self.input_layer(x)
        return self.hidden(x)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    input_tensor = torch.randn(8, 4, requires_grad=True)
    with trace(model):
        loss = model(input_tensor).sum()
        loss.backward()
    return {**dict(model.named_parameters()), "input": input_tensor}
