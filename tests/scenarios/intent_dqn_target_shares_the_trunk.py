"""A DQN whose target head shares the online network's feature trunk (shared weights): `q = q_head(trunk(s))`,
`y = r + gamma * target_head(trunk(s2)).max(1).values`, the loss an `nn.MSELoss()` module, and the optimizer
holds the trunk and the online head. Truth: target_head gets gradients no optimizer uses; the trunk learns
through both, so every step also moves the target. gradviz: not_in_optimizer for target_head at the loss
line, a target whose side also trains the trunk: the fix computes the whole target under no_grad (not
requires_grad_(False) on the head alone) and never says to train it."""

import torch
from torch import nn

RAISES = None
NOTE = []
TARGET = ("target_head.weight", "target_head.bias")
EXPECT = {
    **dict.fromkeys(TARGET, ("not_in_optimizer", "@loss")),
    **{f"{m}.{p}": ("ok", "*") for m in ("trunk", "q_head") for p in ("weight", "bias")},
}
GRADS = dict.fromkeys(EXPECT, "nonzero")
MESSAGE = {
    name: ["is a target", "trunk", "the whole target under `with torch.no_grad():`"] for name in TARGET
}
AVOID = {name: ["add it to the optimizer", "add its parameters", "model.parameters()"] for name in TARGET}


class Agent(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(4, 16)
        self.q_head = nn.Linear(16, 3)
        self.target_head = nn.Linear(16, 3)


def run(trace):
    torch.manual_seed(0)
    model = Agent()
    opt = torch.optim.Adam([*model.trunk.parameters(), *model.q_head.parameters()], lr=1e-3)
    s, a, r, s2 = torch.randn(8, 4), torch.randint(0, 3, (8,)), torch.randn(8), torch.randn(8, 4)
    mse = nn.MSELoss()
    with trace(model, optimizer=opt):
        q_sa = model.q_head(torch.relu(model.trunk(s))).gather(1, a[:, None]).squeeze(1)
        y = r + 0.9 * model.target_head(torch.relu(model.trunk(s2))).max(1).values
        loss = mse(q_sa, y)  # @loss
        loss.backward()
    return model
