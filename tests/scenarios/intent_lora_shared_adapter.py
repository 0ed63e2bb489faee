"""One LoRA adapter shared by two layers (shared weights): both layers add `B(A(x))` with the same A and B,
B zero-initialised. Truth at the first step: A's gradient is exactly zero, B's is not. gradviz: zero for A,
by design (B is all zeros and moves at this step)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "A.weight": ("zero", "*"),
    "B.weight": ("ok", "*"),
    "l1.weight": ("ok", "*"),
    "l1.bias": ("ok", "*"),
    "l2.weight": ("ok", "*"),
    "l2.bias": ("ok", "*"),
}
GRADS = {name: "zero" if name == "A.weight" else "nonzero" for name in EXPECT}
MESSAGE = {"A.weight": ["b.weight is all zeros", "by design"]}
AVOID = {"A.weight": ["initialise one of", "non-zero values"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(6, 6), nn.Linear(6, 6)
        self.A = nn.Linear(6, 2, bias=False)
        self.B = nn.Linear(2, 6, bias=False)
        nn.init.zeros_(self.B.weight)

    def forward(self, x):
        h = torch.tanh(self.l1(x) + self.B(self.A(x)))
        return self.l2(h) + self.B(self.A(h))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(5, 6)).pow(2).mean()
        loss.backward()
    return model
