"""A1 (claims.md): `x = x.detach()` on the *input* at the top of forward, the input requires grad.
Articles say: `input_layer.weight.grad` is None. Truth: every layer weight gets a gradient; only the input
tensor's own `.grad` stays None (the detach cuts the input's history, not the layers after it).
gradviz watches the model, so every parameter is ok."""

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
    "input": "none",
}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layer = nn.Linear(4, 8)
        self.hidden = nn.Linear(8, 1)

    def forward(self, x):
        x = x.detach()
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
