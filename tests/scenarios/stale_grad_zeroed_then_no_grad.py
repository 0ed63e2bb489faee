"""`optimizer.zero_grad(set_to_none=False)` leaves every .grad as a zero tensor; the traced step then runs
the encoder under `torch.no_grad()`. Truth (fresh copy): the encoder gets no gradient from this backward;
its .grad stays the zero tensor from before. gradviz used to say "zero" without a line; now no_grad at the
`with` line, the message saying the .grad is an old value."""

import torch
from torch import nn

RAISES = None
NOTE = []
FRESH = True
EXPECT = {
    "enc.weight": ("no_grad", "@off"),
    "enc.bias": ("no_grad", "@off"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {"enc.weight": "none", "enc.bias": "none", "head.weight": "nonzero", "head.bias": "nonzero"}
MESSAGE = {"enc.weight": ["zero tensor from before the trace", "self.enc(x)"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x, frozen_encoder=False):
        if not frozen_encoder:
            return self.head(torch.tanh(self.enc(x)))
        with torch.no_grad():  # @off
            h = self.enc(x)
        return self.head(torch.tanh(h))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    nn.functional.mse_loss(model(x), y).backward()
    opt.step()
    opt.zero_grad(set_to_none=False)
    with trace(model, optimizer=opt):
        loss = nn.functional.mse_loss(model(x, frozen_encoder=True), y)
        loss.backward()
    return model
