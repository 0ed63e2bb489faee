"""A VQ-VAE whose codebook loss is computed on the straight-through output: `zq = z + (q - z).detach()`,
then `codebook_loss = mse(zq, z.detach())`. Truth: the codebook gets no gradient (the straight-through sends
the decoder's gradient to z, and the codebook loss on zq trains z too). gradviz: detach at the
straight-through line, naming the codebook loss computed on its output; the fix keeps the straight-through
and computes that loss on q, never "remove the .detach()" (which would break the estimator)."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "codebook.weight": ("detach", "@st"),
    "enc.weight": ("ok", "*"),
    "enc.bias": ("ok", "*"),
    "dec.weight": ("ok", "*"),
    "dec.bias": ("ok", "*"),
}
GRADS = {name: "none" if name == "codebook.weight" else "nonzero" for name in EXPECT}
MESSAGE = {
    "codebook.weight": [
        "straight-through",
        "(`codebook_loss = f.mse_loss(zq, z.detach())`) is computed on the output of the straight-through",
        "`f.mse_loss(q, z.detach())`",
        "keep the straight-through",
    ]
}
AVOID = {"codebook.weight": ["remove the .detach()", "use the tensor itself"]}


class VQVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(6, 4)
        self.codebook = nn.Embedding(8, 4)
        self.dec = nn.Linear(4, 6)

    def forward(self, x):
        z = self.enc(x)
        q = self.codebook(torch.cdist(z, self.codebook.weight).argmin(-1))
        zq = z + (q - z).detach()  # @st
        commitment = F.mse_loss(z, q.detach())
        codebook_loss = F.mse_loss(zq, z.detach())
        return self.dec(zq), codebook_loss + 0.25 * commitment


def run(trace):
    torch.manual_seed(0)
    model = VQVAE()
    x = torch.randn(16, 6)
    with trace(model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-3)):
        recon, vq_loss = model(x)
        loss = F.mse_loss(recon, x) + vq_loss
        loss.backward()
    return model
