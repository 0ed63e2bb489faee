"""A GAN's generator step: `loss.backward(inputs=list(G.parameters()))` computes gradients for the generator
only, through the discriminator. Truth: D's parameters get no gradient — they were not asked for.
gradviz: G ok; D `not_requested` at the backward line (not `non_differentiable`, not `unused`)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "G.weight": ("ok", None),
    "G.bias": ("ok", None),
    "D.weight": ("not_requested", "@step"),
    "D.bias": ("not_requested", "@step"),
}
GRADS = {"G.weight": "nonzero", "G.bias": "nonzero", "D.weight": "none", "D.bias": "none"}
MESSAGE = {"D.weight": ["not asked for", "inputs="]}


def run(trace):
    torch.manual_seed(0)
    model = nn.ModuleDict({"G": nn.Linear(2, 4), "D": nn.Linear(4, 1)})
    z = torch.randn(8, 2)
    with trace(model):
        fake = model["G"](z)
        loss = -model["D"](fake).mean()
        loss.backward(inputs=list(model["G"].parameters()))  # @step
    return model
