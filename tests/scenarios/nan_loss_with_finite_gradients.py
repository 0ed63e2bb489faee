"""A NaN loss whose gradients happen to be finite: a regulariser term is `torch.log(torch.tensor(-1.0))`
(NaN, a constant), added to an ordinary loss. Truth: the loss is NaN; every .grad is finite and non-zero
(the NaN term has no gradient). A step with it is meaningless. gradviz used to say ok; now nonfinite for
the parameters the loss depends on, where = the log line."""

import torch
from torch import nn

RAISES = None
NOTE = []
LOSS_NONFINITE = True
EXPECT = {"weight": ("nonfinite", "@bad"), "bias": ("nonfinite", "@bad")}
GRADS = {"weight": "nonzero", "bias": "nonzero"}
MESSAGE = {"weight": ["the loss is nan", "forward of log"]}


def run(trace):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    prior = torch.tensor(-1.0)
    with trace(model):
        loss = model(torch.randn(4, 3)).pow(2).mean() + torch.log(prior)  # @bad
        loss.backward()
    return {"weight": model.weight, "bias": model.bias, "loss": loss.detach()}
