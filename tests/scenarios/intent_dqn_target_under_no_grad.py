"""DQN, the usual way: the TD target is computed under `torch.no_grad()`, and the optimizer holds only the
online network. Truth: target.* get no gradient. gradviz: no_grad at the `with` line, and it says this is by
design (the target network's output is only the value q is trained to match): nothing to fix, never "move
it out of no_grad"."""

import copy

import torch
from torch import nn

RAISES = None
NOTE = []
TARGET = ("target.0.weight", "target.0.bias", "target.2.weight", "target.2.bias")
EXPECT = {
    **dict.fromkeys(TARGET, ("no_grad", "@nograd")),
    **{f"q.{i}.{p}": ("ok", "*") for i in (0, 2) for p in ("weight", "bias")},
}
GRADS = {name: "none" if name in TARGET else "nonzero" for name in EXPECT}
MESSAGE = {name: ["by design", "nothing to fix", "q is trained to match"] for name in TARGET}
AVOID = {name: ["move that computation out", "add it to the optimizer"] for name in TARGET}


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
    done = torch.zeros(8)
    with trace(model, optimizer=opt):
        q_sa = model.q(s).gather(1, a[:, None]).squeeze(1)
        with torch.no_grad():  # @nograd
            y = r + 0.99 * (1 - done) * model.target(s2).max(1).values
        loss = nn.functional.mse_loss(q_sa, y)
        loss.backward()
    return model
