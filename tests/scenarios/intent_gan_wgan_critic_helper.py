"""A WGAN generator step written in a helper, `generator_loss(critic, fake) = -critic(fake).mean()`, with the
critic a separate module from the generator (both in one ModuleDict) and an optimizer over the generator
only. Truth: critic.* get gradients no optimizer uses. gradviz: not_in_optimizer at the helper's line; the
fix offers `requires_grad_(False)` on the critic for this step."""

import torch
from torch import nn

RAISES = None
NOTE = []
CRITIC = ("critic.0.weight", "critic.0.bias", "critic.2.weight", "critic.2.bias")
EXPECT = {
    **dict.fromkeys(CRITIC, ("not_in_optimizer", "@critic")),
    **{f"gen.{i}.{p}": ("ok", "*") for i in (0, 2) for p in ("weight", "bias")},
}
GRADS = dict.fromkeys(EXPECT, "nonzero")
MESSAGE = {name: ["model.critic.requires_grad_(false)", "still flows"] for name in CRITIC}
AVOID = {name: ["build the optimizer from model.parameters()"] for name in CRITIC}


def generator_loss(critic, fake):
    return -critic(fake).mean()  # @critic


def run(trace):
    torch.manual_seed(0)
    model = nn.ModuleDict(
        {
            "gen": nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 5)),
            "critic": nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1)),
        }
    )
    opt = torch.optim.RMSprop(model["gen"].parameters(), lr=5e-5)
    with trace(model, optimizer=opt):
        loss = generator_loss(model["critic"], model["gen"](torch.randn(6, 3)))
        loss.backward()
    return model
