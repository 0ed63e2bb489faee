"""A GAN's discriminator step written without detaching the fake batch: `loss_d = bce(D(real), 1) +
bce(D(G(z)), 0)` with the discriminator's optimizer only. Truth: G gets gradients this step that opt_d never
uses (and they pile up in G's .grad for its own step). gradviz: not_in_optimizer; G's output feeds D, so the
fix offers `.detach()` where it enters D (`D(fake.detach())`) beside adding it to the optimizer, not only
"build the optimizer from model.parameters()"."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
G = ("G.0.weight", "G.0.bias", "G.2.weight", "G.2.bias")
EXPECT = {
    **dict.fromkeys(G, ("not_in_optimizer", "@d")),
    **{f"D.{i}.{p}": ("ok", "*") for i in (0, 2) for p in ("weight", "bias")},
}
GRADS = dict.fromkeys(EXPECT, "nonzero")
MESSAGE = {name: ["the output of `g` enters d", "`d(fake.detach())`", "if it should learn"] for name in G}
AVOID = {name: ["requires_grad_(false)` for this step"] for name in G}


class GAN(nn.Module):
    def __init__(self):
        super().__init__()
        self.G = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 4))
        self.D = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))


def run(trace):
    torch.manual_seed(0)
    model = GAN()
    opt_d = torch.optim.Adam(model.D.parameters(), lr=2e-4)
    real, z = torch.randn(8, 4), torch.randn(8, 2)
    bce = F.binary_cross_entropy_with_logits
    with trace(model, optimizer=opt_d):
        fake = model.G(z)
        loss_d = bce(model.D(real), torch.ones(8, 1)) + bce(model.D(fake), torch.zeros(8, 1))  # @d
        loss_d.backward()
    return model
