"""DQN with a target network held in the model: the TD target `r + gamma * target(s2).max(1).values` is
computed with gradients on, and the optimizer holds only the online network `q`. Truth: target.* get
gradients that no optimizer uses. gradviz: not_in_optimizer at the loss line, where the target network's
output meets q's only as the value to match; the fix stops computing its gradient (no_grad / detach /
requires_grad_(False)) and never tells the user to train it on this loss."""

import copy

import torch
from torch import nn

RAISES = None
NOTE = []
TARGET = ("target.0.weight", "target.0.bias", "target.2.weight", "target.2.bias")
EXPECT = {
    **dict.fromkeys(TARGET, ("not_in_optimizer", "@loss")),
    **{f"q.{i}.{p}": ("ok", "*") for i in (0, 2) for p in ("weight", "bias")},
}
GRADS = dict.fromkeys(EXPECT, "nonzero")
MESSAGE = {name: ["is a target", "torch.no_grad()", "requires_grad_(false)"] for name in TARGET}
AVOID = {
    name: ["add it to the optimizer", "add its parameters", "model.parameters()", "add a param group"]
    for name in TARGET
}


class Agent(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        self.target = copy.deepcopy(self.q)


def run(trace):
    torch.manual_seed(0)
    model = Agent()
    opt = torch.optim.Adam(model.q.parameters(), lr=1e-3)
    s, a, r, s2 = torch.randn(8, 4), torch.randint(0, 2, (8,)), torch.randn(8), torch.randn(8, 4)
    with trace(model, optimizer=opt):
        q_sa = model.q(s).gather(1, a[:, None]).squeeze(1)
        y = r + 0.99 * model.target(s2).max(1).values
        loss = nn.functional.smooth_l1_loss(q_sa, y)  # @loss
        loss.backward()
    return model
