"""A GAN's generator step: `loss = bce(D(G(z)), ones)` with the generator's optimizer only (the discriminator
has its own optimizer for its own step). Truth: D.* get gradients this step that opt_g never uses. gradviz:
not_in_optimizer at the line where G's gradient goes through D; the fix offers `D.requires_grad_(False)` for
this step (the gradient still flows through it to G) before "add it to the optimizer", never the bare
"build the optimizer from model.parameters()"."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
D = ("D.0.weight", "D.0.bias", "D.2.weight", "D.2.bias")
EXPECT = {
    **dict.fromkeys(D, ("not_in_optimizer", "@d")),
    **{f"G.{i}.{p}": ("ok", "*") for i in (0, 2) for p in ("weight", "bias")},
}
GRADS = dict.fromkeys(EXPECT, "nonzero")
MESSAGE = {name: ["model.d.requires_grad_(false)", "still flows", "the gradient of g flows"] for name in D}
AVOID = {name: ["build the optimizer from model.parameters()"] for name in D}


class GAN(nn.Module):
    def __init__(self):
        super().__init__()
        self.G = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 4))
        self.D = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))


def run(trace):
    torch.manual_seed(0)
    model = GAN()
    opt_g = torch.optim.Adam(model.G.parameters(), lr=2e-4)
    z = torch.randn(8, 2)
    with trace(model, optimizer=opt_g):
        fake = model.G(z)
        loss = F.binary_cross_entropy_with_logits(model.D(fake), torch.ones(8, 1))  # @d
        loss.backward()
    return model
