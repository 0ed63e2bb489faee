"""E1 (claims.md): an RNN started from `h0 = torch.zeros(...).detach()`. Articles say: the RNN parameters get
None. Truth: all parameters get gradients; h0 is a fresh tensor with no history, so detaching it cuts nothing.
gradviz must not report the detach as a cut."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "rnn.weight_ih_l0": ("ok", "*"),
    "rnn.weight_hh_l0": ("ok", "*"),
    "rnn.bias_ih_l0": ("ok", "*"),
    "rnn.bias_hh_l0": ("ok", "*"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(4, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        h0 = torch.zeros(1, x.shape[0], 8).detach()
        out, _ = self.rnn(x, h0)
        return self.head(out[:, -1])


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(3, 5, 4), torch.randn(3, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
