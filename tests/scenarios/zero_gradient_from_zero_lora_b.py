"""A LoRA adapter at its first step: `lora_B` starts at exactly zero (by design, so the adapter begins as a
no-op), so `lora_A` gets an exactly-zero gradient (it flows back through B). Truth: lora_A.grad is zero,
lora_B.grad is not. gradviz: zero at the lora_B line, naming lora_B as the all-zero weight and saying this
is by design and fine from the next step."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "lora_A.weight": ("zero", "@b"),
    "lora_B.weight": ("ok", "*"),
    "base.weight": ("frozen", None),
    "base.bias": ("frozen", None),
}
GRADS = {"lora_A.weight": "zero", "lora_B.weight": "nonzero", "base.weight": "none", "base.bias": "none"}
MESSAGE = {"lora_A.weight": ["lora_b.weight is all zeros", "by design", "next step"]}


class LoraLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.base = nn.Linear(8, 8).requires_grad_(False)
        self.lora_A = nn.Linear(8, 2, bias=False)
        self.lora_B = nn.Linear(2, 8, bias=False)
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x))  # @b


def run(trace):
    torch.manual_seed(0)
    model = LoraLinear()
    with trace(model):
        loss = model(torch.randn(4, 8)).pow(2).mean()
        loss.backward()
    return model
