"""Double DQN with the TD target built in a helper: the online network picks the next action (argmax), the
target network evaluates it, and the helper returns `.detach()` of it; the loss is an `nn.SmoothL1Loss()`
module. Truth: target.* get no gradient, q.* do (the argmax only cuts q's second use). gradviz: detach at the
helper's line, by design (a target): nothing to fix, never "remove the .detach()"."""

import copy

import torch
from torch import nn

RAISES = None
NOTE = []
TARGET = ("target.0.weight", "target.0.bias", "target.2.weight", "target.2.bias")
EXPECT = {
    **dict.fromkeys(TARGET, ("detach", "@detach")),
    **{f"q.{i}.{p}": ("ok", "*") for i in (0, 2) for p in ("weight", "bias")},
}
GRADS = {name: "none" if name in TARGET else "nonzero" for name in EXPECT}
MESSAGE = {name: ["nothing to fix", "by design"] for name in TARGET}
AVOID = {name: ["remove the .detach()", "add it to the optimizer"] for name in TARGET}


class Agent(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
        self.target = copy.deepcopy(self.q)


def td_target(agent, r, s2, gamma=0.99):
    best = agent.q(s2).argmax(1, keepdim=True)
    return (r + gamma * agent.target(s2).gather(1, best).squeeze(1)).detach()  # @detach


def run(trace):
    torch.manual_seed(0)
    model = Agent()
    opt = torch.optim.Adam(model.q.parameters(), lr=1e-3)
    s, a, r, s2 = torch.randn(8, 4), torch.randint(0, 3, (8,)), torch.randn(8), torch.randn(8, 4)
    huber = nn.SmoothL1Loss()
    with trace(model, optimizer=opt):
        q_sa = model.q(s).gather(1, a[:, None]).squeeze(1)
        loss = huber(q_sa, td_target(model, r, s2))
        loss.backward()
    return model
