"""A2 (claims.md): `x[:] = x * 2` in forward, on the input that requires grad. Articles say: weight grad None.
Truth: the forward raises RuntimeError "a leaf Variable that requires grad is being used in an in-place
operation." at that line; backward never runs, so no parameter gets a gradient. gradviz: every parameter
error, where = the `x[:] =` line, and the exception gets a note naming the in-place op and that line."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = [("in-place", "inplace"), "@inplace"]
EXPECT = {
    "input_layer.weight": ("error", "@inplace"),
    "input_layer.bias": ("error", "@inplace"),
    "hidden.weight": ("error", "@inplace"),
    "hidden.bias": ("error", "@inplace"),
}
GRADS = {
    "input_layer.weight": "none",
    "input_layer.bias": "none",
    "hidden.weight": "none",
    "hidden.bias": "none",
}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layer = nn.Linear(4, 8)
        self.hidden = nn.Linear(8, 1)

    def forward(self, x):
        x[:] = x * 2  # @inplace
        x = self.input_layer(x)
        return self.hidden(x)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    input_tensor = torch.randn(8, 4, requires_grad=True)
    with trace(model):
        loss = model(input_tensor).sum()
        loss.backward()
    return model
