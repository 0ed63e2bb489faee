"""A few-shot classifier: the support set is embedded by `encoder` under `torch.no_grad()` (class prototypes),
the queries by the same encoder with gradients on, and the optimizer holds only a small adapter after the
encoder. Truth: the encoder gets gradients (from the queries) that no optimizer uses. gradviz:
not_in_optimizer, noting that the encoder also runs under no_grad (so it looks meant to stay fixed) and
leading with the keep-fixed fix; "add it to the optimizer" comes second, only if it should learn after
all."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
ENCODER = ("encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias")
EXPECT = {
    **dict.fromkeys(ENCODER, ("not_in_optimizer", "*")),
    "adapter.weight": ("ok", "*"),
    "adapter.bias": ("ok", "*"),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")
MESSAGE = {name: ["also runs under torch.no_grad() at", "it looks meant to stay fixed:"] for name in ENCODER}


class FewShot(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 8))
        self.adapter = nn.Linear(8, 8)

    def embed(self, x):
        return F.normalize(self.adapter(self.encoder(x)), dim=-1)


def run(trace):
    torch.manual_seed(0)
    model = FewShot()
    opt = torch.optim.Adam(model.adapter.parameters(), lr=1e-3)
    support, labels = torch.randn(6, 10), torch.tensor([0, 0, 1, 1, 2, 2])
    queries, targets = torch.randn(4, 10), torch.tensor([0, 1, 2, 1])
    with trace(model, optimizer=opt):
        with torch.no_grad():
            prototypes = torch.stack([model.encoder(support[labels == c]).mean(0) for c in range(3)])
        logits = model.embed(queries) @ F.normalize(model.adapter(prototypes), dim=-1).T
        loss = F.cross_entropy(logits * 10, targets)
        loss.backward()
    return model
