"""A real session: the model already trained two steps with no zero_grad() after the last one, so every
.grad holds a value. Then the traced step has a stray `.detach()` between encoder and head. Truth (on a
fresh copy): the traced backward delivers nothing to the encoder; its .grad still shows the old value.
gradviz used to call the encoder ok (a .grad exists). Now: detach at that line, and the message says the
.grad is left from before the trace."""

import torch
from torch import nn

RAISES = None
NOTE = []
FRESH = True
EXPECT = {
    "enc.weight": ("detach", "@cut"),
    "enc.bias": ("detach", "@cut"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {"enc.weight": "none", "enc.bias": "none", "head.weight": "nonzero", "head.bias": "nonzero"}
MESSAGE = {
    "enc.weight": ["left from before the trace", "added nothing"],
    "head.weight": ["already held a gradient", "added to it"],
}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x, cut=False):
        h = torch.tanh(self.enc(x))
        if cut:
            h = h.detach()  # @cut
        return self.head(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for _ in range(2):  # earlier cells: trained, and the last step's gradients were never cleared
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    with trace(model, optimizer=opt):
        loss = nn.functional.mse_loss(model(x, cut=True), y)
        loss.backward()
    return model
