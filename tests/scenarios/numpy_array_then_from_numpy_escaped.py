"""Features collected with `np.array(h.tolist())` and brought back with `torch.from_numpy`: the values left
torch, so the encoder gets no gradient. Truth: enc.grad None, head fine. gradviz: escaped at the np.array
line (where the values left torch), not blamed elsewhere."""

import numpy as np
import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "enc.weight": ("escaped", "@out"),
    "enc.bias": ("escaped", "@out"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("none" if name.startswith("enc") else "nonzero") for name in EXPECT}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(8, 4)
    with trace(model):
        feats = np.array(model.enc(x).tolist(), dtype=np.float32)  # @out
        out = model.head(torch.from_numpy(feats))
        loss = out.pow(2).mean()
        loss.backward()
    return model
