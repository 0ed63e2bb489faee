"""Found by the fuzzer (seed 7, program 6605). A mask made from the data (no grad_fn) multiplies a GRU's
output, which saves it; then `m[0] = 0.0` writes into it, and later `h.mul_(2)` writes into a linear
layer's output (nothing saved that one: harmless). The backward raises; torch's message names the saved
tensor by type and shape only, as it has no grad_fn. gradviz blames the write into the saved mask, not the
last write of that shape."""

import torch
from torch import nn

RAISES = RuntimeError  # one of the variables needed for gradient computation has been modified
NOTE = []
EXPECT = {
    "rnn.weight_ih_l0": ("error", "@setitem"),
    "rnn.weight_hh_l0": ("error", "@setitem"),
    "rnn.bias_ih_l0": ("error", "@setitem"),
    "rnn.bias_hh_l0": ("error", "@setitem"),
}
GRADS = {**dict.fromkeys(EXPECT, "none"), "out.weight": "nonzero", "out.bias": "nonzero"}  # out's came first


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(4, 4)
        self.out = nn.Linear(4, 4)

    def forward(self, x):
        h, _ = self.rnn(x)
        m = x * 2
        h = h * m  # saves m
        m[0] = 0.0  # @setitem
        y = self.out(h)
        y.mul_(2)  # harmless: nothing saved y
        return y


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(3, 4)
    with trace(model):
        loss = model(x).pow(2).mean()
        loss.backward()
    return model
