"""A Gaussian policy scored on its own reparameterised sample: `d.log_prob(d.rsample())`. The sample is
`mean + eps * std`, and log_prob depends on `sample - mean` = `eps * std`: the two paths from `mean` cancel
exactly. Truth: the mean head's gradient is exactly zero (the std parameter still learns). gradviz: zero,
where = the line where the mean is computed (where the parameter is used), the message naming the two
paths and the line where they meet again — not only the `log_prob` line."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"mean_head.weight": ("zero", "@mean"), "mean_head.bias": ("zero", "@mean")}
GRADS = {"mean_head.weight": "zero", "mean_head.bias": "zero"}
MESSAGE = {"mean_head.weight": ["2 paths", "cancel", "meet again"]}


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean_head = nn.Linear(3, 2)
        self.log_std = nn.Parameter(torch.zeros(2))

    def forward(self, x):
        mean = self.mean_head(x)  # @mean
        d = torch.distributions.Normal(mean, self.log_std.exp())
        return d.log_prob(d.rsample()).sum()


def run(trace):
    torch.manual_seed(0)
    model = Policy()
    with trace(model):
        loss = -model(torch.randn(5, 3))
        loss.backward()
    return model
