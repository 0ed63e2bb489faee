"""A Gaussian policy scored on its own reparameterised sample: `d = Normal(mu(x), std); a = d.rsample();
loss = -(d.log_prob(a) * advantage).mean()`. The sample moves with mu, so log_prob(a) does not depend on mu
and the two paths cancel. Truth: the mean head's gradient is exactly zero. gradviz: zero (cancelling paths),
with the REINFORCE fix `d.log_prob(a.detach())` (or drop log_prob for a pathwise loss)."""

import torch
from torch import nn
from torch.distributions import Normal

RAISES = None
NOTE = []
EXPECT = {"mu.weight": ("zero", "*"), "mu.bias": ("zero", "*"), "log_std": ("ok", "*")}
GRADS = {"mu.weight": "zero", "mu.bias": "zero", "log_std": "nonzero"}
MESSAGE = {"mu.weight": ["cancel", "`d.log_prob(a.detach())`"]}
AVOID = {"mu.weight": ["f(x) - f(x)"]}


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.mu = nn.Linear(3, 2)
        self.log_std = nn.Parameter(torch.zeros(2))


def run(trace):
    torch.manual_seed(0)
    model = Policy()
    x, advantage = torch.randn(5, 3), torch.randn(5, 1)
    with trace(model):
        d = Normal(model.mu(x), model.log_std.exp())
        a = d.rsample()
        loss = -(d.log_prob(a) * advantage).mean()
        loss.backward()
    return model
