"""A VQ layer written functionally: the codebook is a plain `nn.Parameter` looked up with `F.embedding`, the
straight-through is a helper `(q - z).detach() + z`, and only the commitment loss `((z - q.detach()) ** 2)`
is there (no codebook loss). Truth: the codebook gets no gradient. gradviz: detach at the helper's line,
naming the straight-through; the fix adds a codebook loss on q (or an EMA update), never "remove the
.detach()"."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "codebook": ("detach", "@st"),
    "enc.weight": ("ok", "*"),
    "enc.bias": ("ok", "*"),
    "dec.weight": ("ok", "*"),
    "dec.bias": ("ok", "*"),
}
GRADS = {name: "none" if name == "codebook" else "nonzero" for name in EXPECT}
MESSAGE = {"codebook": ["straight-through", "`f.mse_loss(q, z.detach())`", "ema"]}
AVOID = {"codebook": ["remove the .detach()"]}


def straight_through(z, q):
    return (q - z).detach() + z  # @st


class VQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(6, 4)
        self.codebook = nn.Parameter(torch.randn(8, 4))
        self.dec = nn.Linear(4, 6)

    def forward(self, x):
        z = self.enc(x)
        idx = (z.unsqueeze(1) - self.codebook).pow(2).sum(-1).argmin(-1)
        q = F.embedding(idx, self.codebook)
        commitment = ((z - q.detach()) ** 2).mean()
        return self.dec(straight_through(z, q)), commitment


def run(trace):
    torch.manual_seed(0)
    model = VQ()
    x = torch.randn(16, 6)
    with trace(model):
        recon, commitment = model(x)
        loss = F.mse_loss(recon, x) + 0.25 * commitment
        loss.backward()
    return model
