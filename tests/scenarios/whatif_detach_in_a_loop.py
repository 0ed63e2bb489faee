"""A `.detach()` inside the loop over layers (copied from a truncated-backprop recipe): every layer but the
last gets no gradient, all cut at the same line. Truth: layers 0-2 None, layer 3 and the head gradients.
gradviz: each cut layer at the detach line; ``without`` that line reaches all of them (one edit removes
every execution of it)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    **{f"layers.{i}.{p}": ("detach", "@cut") for i in range(3) for p in ("weight", "bias")},
    "layers.3.weight": ("ok", "*"),
    "layers.3.bias": ("ok", "*"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("none" if cause == "detach" else "nonzero") for name, (cause, _) in EXPECT.items()}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(6, 6) for _ in range(4))
        self.head = nn.Linear(6, 1)

    def forward(self, x):
        h = x
        for i, layer in enumerate(self.layers):
            h = torch.tanh(layer(h))
            if i < len(self.layers) - 1:
                h = h.detach()  # @cut
        return self.head(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(8, 6), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
