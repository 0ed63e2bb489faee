"""D1 (claims.md): a module whose forward is `out = self.linear(x)`, a standard training step.
Articles say: works. Truth: works; everything ok."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"linear.weight": ("ok", "*"), "linear.bias": ("ok", "*")}
GRADS = {"linear.weight": "nonzero", "linear.bias": "nonzero"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, x):
        out = self.linear(x)
        return out  # noqa: RET504  (the article's shape, verbatim)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with trace(model, optimizer=opt):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    return model
