"""A `torch.jit.script`ed encoder whose output is detached before the head. The ops inside TorchScript run in
its interpreter, out of the tracer's sight. Truth: the encoder's parameters get no gradient. gradviz:
detach at the `.detach()` line (what is known: the module ran and its output was cut there), saying that
the module runs as TorchScript — never `unused` with no line."""

import warnings

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "enc.0.weight": ("detach", "@cut"),
    "enc.0.bias": ("detach", "@cut"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("none" if name.startswith("enc") else "nonzero") for name in EXPECT}
MESSAGE = {"enc.0.weight": ["torchscript", ".detach()"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; models still use it
            warnings.simplefilter("ignore", DeprecationWarning)
            self.enc = torch.jit.script(nn.Sequential(nn.Linear(4, 8), nn.ReLU()))
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        h = self.enc(x).detach()  # @cut
        return self.head(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(3, 4)).pow(2).mean()
        loss.backward()
    return model
