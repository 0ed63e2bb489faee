"""Mixture of experts with hard routing: `expert = router(x).argmax(-1)` picks one expert per token and the
router's scores are not used otherwise. Truth: the router gets no gradient; the experts do. gradviz:
non_differentiable at the argmax line, with the fix for argmax (Gumbel-softmax straight-through, or weight
by the softmax), not a generic "use a differentiable form"."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "router.weight": ("non_differentiable", "@route"),
    "router.bias": ("non_differentiable", "@route"),
    "experts.0.weight": ("ok", "*"),
    "experts.0.bias": ("ok", "*"),
    "experts.1.weight": ("ok", "*"),
    "experts.1.bias": ("ok", "*"),
}
GRADS = {name: "none" if name.startswith("router") else "nonzero" for name in EXPECT}
MESSAGE = {"router.weight": ["argmax", "`f.gumbel_softmax(logits, tau=1.0, hard=true)`"]}
AVOID = {"router.weight": ["remove the"]}


class MoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(4, 2)
        self.experts = nn.ModuleList(nn.Linear(4, 4) for _ in range(2))

    def forward(self, x):
        choice = self.router(x).argmax(-1)  # @route
        outs = torch.stack([e(x) for e in self.experts], 1)
        return outs[torch.arange(x.shape[0]), choice]


def run(trace):
    torch.manual_seed(0)
    model = MoE()
    x = torch.randn(8, 4)
    with trace(model):
        loss = F.mse_loss(model(x), x)
        loss.backward()
    return model
