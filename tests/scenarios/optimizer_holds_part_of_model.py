"""The optimizer is built from `model.head.parameters()` only. Truth: every parameter gets a gradient, but
`step()` only updates the head; the body never trains. gradviz (given the optimizer): body not_in_optimizer,
head ok. The optimizer was built before the trace, so any where is accepted."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "body.weight": ("not_in_optimizer", "*"),
    "body.bias": ("not_in_optimizer", "*"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(torch.tanh(self.body(x)))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.head.parameters(), lr=0.1)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model, optimizer=opt):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    return model
