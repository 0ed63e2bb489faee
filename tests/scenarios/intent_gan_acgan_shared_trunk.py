"""An AC-GAN generator step: the discriminator's shared trunk feeds two heads (real/fake and class), both
used in the generator's loss; the optimizer holds the generator only. Truth: every D parameter gets a
gradient opt_g never uses. gradviz: not_in_optimizer for all of D (trunk and both heads) with the
`requires_grad_(False)` fix on `model.D`, not the bare "build the optimizer from model.parameters()"."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
D = ("D.trunk.weight", "D.trunk.bias", "D.adv.weight", "D.adv.bias", "D.cls.weight", "D.cls.bias")
EXPECT = {
    **dict.fromkeys(D, ("not_in_optimizer", "*")),
    "G.weight": ("ok", "*"),
    "G.bias": ("ok", "*"),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")
MESSAGE = {name: ["model.d.requires_grad_(false)"] for name in D}
AVOID = {name: ["build the optimizer from model.parameters()"] for name in D}


class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(6, 12)
        self.adv = nn.Linear(12, 1)
        self.cls = nn.Linear(12, 3)

    def forward(self, x):
        h = F.leaky_relu(self.trunk(x), 0.2)
        return self.adv(h), self.cls(h)


class ACGAN(nn.Module):
    def __init__(self):
        super().__init__()
        self.G = nn.Linear(4, 6)
        self.D = Disc()


def run(trace):
    torch.manual_seed(0)
    model = ACGAN()
    opt_g = torch.optim.Adam(model.G.parameters(), lr=2e-4)
    labels = torch.randint(0, 3, (8,))
    with trace(model, optimizer=opt_g):
        adv, cls = model.D(torch.tanh(model.G(torch.randn(8, 4))))
        loss = F.binary_cross_entropy_with_logits(adv, torch.ones_like(adv)) + F.cross_entropy(cls, labels)
        loss.backward()
    return model
