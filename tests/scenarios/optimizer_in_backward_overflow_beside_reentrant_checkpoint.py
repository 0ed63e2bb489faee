"""Found by the differential fuzzer (seed 12345, program 157): an optimizer step fused into backward
(`register_post_accumulate_grad_hook`, one SGD per parameter, then `zero_grad()`) on a layer used three
times, once through an fp16 product whose backward overflows and once inside a reentrant `checkpoint`.
The gradient arrives twice (the checkpoint's inner backward, then the outer graph), and the hook steps the
weight with each arrival. Truth: no error; `.grad` is None afterwards, but the outer arrival was Inf/NaN
(it moved the weights to NaN). gradviz: nonfinite, born at the fp16 product — it said "ok": with two
arrivals it read `.grad` for the state, and the hook had taken `.grad` away."""

import math
import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = {"u0.weight": ("nonfinite", "@fp16"), "u0.bias": ("nonfinite", "@fp16")}
GRADS = dict.fromkeys(EXPECT, "none")
CONSUMED = list(EXPECT)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u0 = nn.Linear(4, 4)

    def forward(self, x):
        h = (self.u0(x).half() * 3000).float()  # @fp16
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            return h + checkpoint(self.u0, self.u0(x), use_reentrant=True)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    opts = {p: torch.optim.SGD([p], lr=0.1) for p in model.parameters()}

    def train_in_backward(p):
        before = getattr(p, "consumed_norm", 0.0)  # the worst of what arrived: a non-finite norm stays
        p.consumed_norm = float(p.grad.norm()) if math.isfinite(before) else before
        opts[p].step()
        opts[p].zero_grad()

    for p in opts:
        p.register_post_accumulate_grad_hook(train_in_backward)
    with trace(model):
        loss = model(torch.randn(3, 4)).pow(2).mean()
        loss.backward()
    return model
