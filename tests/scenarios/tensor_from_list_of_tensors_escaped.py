"""A policy-gradient step: actions are sampled (no gradient, on purpose: `dist.sample()`), and the critic's
values are collected in a list and rebuilt into a tensor with `torch.tensor(values)`. Truth: the critic gets
no gradient (torch.tensor copies the values into a new tensor with no history); the policy learns through
log_prob. gradviz: the critic is `escaped` at the torch.tensor line, not blamed on the earlier sample()."""

import warnings

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "critic.weight": ("escaped", "@rebuild"),
    "critic.bias": ("escaped", "@rebuild"),
    "policy.weight": ("ok", "*"),
    "policy.bias": ("ok", "*"),
}
GRADS = {name: ("none" if name.startswith("critic") else "nonzero") for name in EXPECT}
MESSAGE = {"critic.weight": ["torch.stack"]}


class AgentNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.policy = nn.Linear(4, 3)
        self.critic = nn.Linear(4, 1)


def run(trace):
    torch.manual_seed(0)
    model = AgentNet()
    states = torch.randn(6, 4)
    rewards = torch.randn(6)
    with trace(model):
        dist = torch.distributions.Categorical(logits=model.policy(states))
        actions = dist.sample()
        values = [model.critic(s)[0] for s in states]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about building a tensor from tensors
            baseline = torch.tensor(values)  # @rebuild
        advantage = rewards - baseline
        loss = -(dist.log_prob(actions) * advantage).mean() + (advantage**2).mean()
        loss.backward()
    return model
