"""A two-tower regression model whose item tower was left out of the optimizer
(`Adam(model.user.parameters())`): the loss compares the two towers' outputs, `mse_loss(user(u), item(i))`.
Truth: the item tower gets gradients no optimizer uses. A comparison alone does not say the item tower is a
target (no copy of a trained part, no soft targets): gradviz gives not_in_optimizer with both readings: keep
it fixed if it is a target, or give its parameters to the optimizer if it is a second model that should
learn."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
ITEM = ("item.weight", "item.bias")
EXPECT = {
    **dict.fromkeys(ITEM, ("not_in_optimizer", "@loss")),
    **{f"user.{i}.{p}": ("ok", "*") for i in (0, 2) for p in ("weight", "bias")},
}
GRADS = dict.fromkeys(EXPECT, "nonzero")
MESSAGE = {
    name: ["looks like a target", "a second model that should learn too", "give its parameters"]
    for name in ITEM
}


class TwoTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.user = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 4))
        self.item = nn.Linear(7, 4)


def run(trace):
    torch.manual_seed(0)
    model = TwoTower()
    opt = torch.optim.Adam(model.user.parameters(), lr=1e-3)
    u, i = torch.randn(6, 5), torch.randn(6, 7)
    with trace(model, optimizer=opt):
        loss = F.mse_loss(model.user(u), model.item(i))  # @loss
        loss.backward()
    return model
