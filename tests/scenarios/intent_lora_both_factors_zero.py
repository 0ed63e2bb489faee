"""A LoRA adapter with both factors initialised to zero (a common slip: `nn.init.zeros_` on A as well as B).
Truth: both get exactly-zero gradients, at every step: neither ever learns. gradviz: zero for both, saying
both factors are zero and to initialise one of them (A random, B zero), never "nothing to fix"."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "lora_A.weight": ("zero", "@lora"),
    "lora_B.weight": ("zero", "@lora"),
    "base.weight": ("frozen", None),
    "base.bias": ("frozen", None),
}
GRADS = {"lora_A.weight": "zero", "lora_B.weight": "zero", "base.weight": "none", "base.bias": "none"}
MESSAGE = {
    name: ["both factors are zero", "initialise one of the two factors"] for name in EXPECT if "lora" in name
}
AVOID = {name: ["nothing to fix", "by design"] for name in EXPECT if "lora" in name}


class LoraLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.base = nn.Linear(8, 8).requires_grad_(False)
        self.lora_A = nn.Linear(8, 2, bias=False)
        self.lora_B = nn.Linear(2, 8, bias=False)
        nn.init.zeros_(self.lora_A.weight)
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x))  # @lora


def run(trace):
    torch.manual_seed(0)
    model = LoraLinear()
    with trace(model):
        loss = model(torch.randn(4, 8)).pow(2).mean()
        loss.backward()
    return model
