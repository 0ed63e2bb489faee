"""A VQ-VAE done right (van den Oord et al.): straight-through `z + (q - z).detach()`, codebook loss
`mse(q, z.detach())`, commitment loss `mse(z, q.detach())`; the codebook is shared with a second lookup
(a prior over codes reads the same table). Truth: every parameter gets a gradient. gradviz: all ok (the
deliberate detaches are not reported)."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
NAMES = ("enc.weight", "enc.bias", "codebook.weight", "dec.weight", "dec.bias", "prior.weight", "prior.bias")
EXPECT = dict.fromkeys(NAMES, ("ok", "*"))
GRADS = dict.fromkeys(EXPECT, "nonzero")


class VQVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(6, 4)
        self.codebook = nn.Embedding(8, 4)
        self.dec = nn.Linear(4, 6)
        self.prior = nn.Linear(4, 8)

    def forward(self, x):
        z = self.enc(x)
        idx = torch.cdist(z, self.codebook.weight).argmin(-1)
        q = self.codebook(idx)
        zq = z + (q - z).detach()
        vq_loss = F.mse_loss(q, z.detach()) + 0.25 * F.mse_loss(z, q.detach())
        prior_loss = F.cross_entropy(self.prior(self.codebook(idx.roll(1)).detach()), idx)
        return self.dec(zq), vq_loss + prior_loss


def run(trace):
    torch.manual_seed(0)
    model = VQVAE()
    x = torch.randn(16, 6)
    with trace(model):
        recon, aux = model(x)
        loss = F.mse_loss(recon, x) + aux
        loss.backward()
    return model
