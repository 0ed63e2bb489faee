"""`with torch.set_grad_enabled(self.finetune_encoder):` with the flag False, around the encoder call.
Truth: same as no_grad: encoder parameters None, head gradients, no exception. gradviz: encoder no_grad,
where = the `with torch.set_grad_enabled(...)` line that turned gradients off."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "encoder.weight": ("no_grad", "@off"),
    "encoder.bias": ("no_grad", "@off"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("none" if name.startswith("encoder") else "nonzero") for name in EXPECT}


class Net(nn.Module):
    def __init__(self, finetune_encoder=False):
        super().__init__()
        self.finetune_encoder = finetune_encoder
        self.encoder = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        with torch.set_grad_enabled(self.finetune_encoder):  # @off
            h = self.encoder(x)
        return self.head(torch.tanh(h))


def run(trace):
    torch.manual_seed(0)
    model = Net(finetune_encoder=False)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
