"""An attention layer with a LoRA-wrapped query projection and a "fast path" that computes the query with
`F.linear(x, self.q.base.weight, self.q.base.bias)`, reading the base weight directly: the LoRA module's
forward never runs. Truth: lora_A and lora_B get no gradient. gradviz: unused, saying the base weight of the
same module was read directly at the fast path's line, and to call the module (or merge the adapter)."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "q.lora_A.weight": ("unused", None),
    "q.lora_B.weight": ("unused", None),
    "q.base.weight": ("frozen", None),
    "q.base.bias": ("frozen", None),
    "k.weight": ("ok", "*"),
}
GRADS = dict.fromkeys(EXPECT, "none")
GRADS["k.weight"] = "nonzero"
MESSAGE = {
    name: [
        "q.base.weight of the same module was read directly at",
        "f.linear(x, self.q.base.weight, self.q.base.bias)",
        "call the module (`self.q(x)`)",
    ]
    for name in ("q.lora_A.weight", "q.lora_B.weight")
}
AVOID = {name: ["take the branch", "remove it"] for name in ("q.lora_A.weight", "q.lora_B.weight")}


class LoraLinear(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.base = nn.Linear(d, d).requires_grad_(False)
        self.lora_A = nn.Linear(d, 2, bias=False)
        self.lora_B = nn.Linear(2, d, bias=False)

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x))


class Attention(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.q = LoraLinear(d)
        self.k = nn.Linear(d, d, bias=False)

    def forward(self, x):
        q = F.linear(x, self.q.base.weight, self.q.base.bias)
        return (q @ self.k(x).T).softmax(-1) @ x


def run(trace):
    torch.manual_seed(0)
    model = Attention()
    with trace(model):
        loss = model(torch.randn(5, 8)).pow(2).mean()
        loss.backward()
    return model
