"""A helper that fuses the q/k/v projections by concatenating their weights (`torch.cat([layer.q.base.weight,
layer.k.weight, layer.v.weight])`) and one `F.linear`: the LoRA on q is skipped, because only its base weight
is read. Truth: the adapter gets no gradient. gradviz: unused, naming the line where q's base weight was read
directly and saying to call the module (or merge the adapter)."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
LORA = ("q.lora_A.weight", "q.lora_B.weight")
EXPECT = {
    **dict.fromkeys(LORA, ("unused", None)),
    "q.base.weight": ("frozen", None),
    "k.weight": ("ok", "*"),
    "v.weight": ("ok", "*"),
}
GRADS = {"q.lora_A.weight": "none", "q.lora_B.weight": "none", "q.base.weight": "none"}
GRADS |= {"k.weight": "nonzero", "v.weight": "nonzero"}
MESSAGE = {name: ["q.base.weight of the same module was read directly at", "torch.cat"] for name in LORA}
AVOID = {name: ["take the branch"] for name in LORA}


class LoraLinear(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.base = nn.Linear(d, d, bias=False).requires_grad_(False)
        self.lora_A = nn.Linear(d, 2, bias=False)
        self.lora_B = nn.Linear(2, d, bias=False)

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x))


class Layer(nn.Module):
    def __init__(self, d=6):
        super().__init__()
        self.q = LoraLinear(d)
        self.k, self.v = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)


def fused_qkv(x, layer):
    weight = torch.cat([layer.q.base.weight, layer.k.weight, layer.v.weight])
    return F.linear(x, weight).chunk(3, -1)


def run(trace):
    torch.manual_seed(0)
    model = Layer()
    with trace(model):
        q, k, v = fused_qkv(torch.randn(4, 6), model)
        loss = ((q @ k.T).softmax(-1) @ v).pow(2).mean()
        loss.backward()
    return model
