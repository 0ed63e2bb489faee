"""q, k, v split from one projection (as attention does); only k's path goes through the norm of a zero
vector (a padded position whose key is all zeros, scaled by its length written as sqrt of a sum of squares;
torch.linalg.vector_norm would mask the case). The forward is finite (0); the backward of sqrt is Inf at 0,
and 0 × Inf = NaN through the square: the projection's weight and bias get NaN gradients through
k while q and v carry finite ones. gradviz: nonfinite at the helper's norm line, born in the backward of
sqrt — not at the q or v lines, which carry finite gradients into the same parameter."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"qkv.weight": ("nonfinite", "@norm"), "qkv.bias": ("nonfinite", "@norm")}
GRADS = {"qkv.weight": "nonfinite", "qkv.bias": "nonfinite"}
MESSAGE = {"qkv.weight": ["backward of sqrt"]}


def scale_by_length(t):
    return t * torch.sqrt((t * t).sum(-1, keepdim=True))  # @norm


class Attn(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(4, 12)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        k = scale_by_length(k)
        return (q @ k.transpose(0, 1)).softmax(-1) @ v


def run(trace):
    torch.manual_seed(0)
    model = Attn()
    with torch.no_grad():
        model.qkv.bias.zero_()
    x = torch.randn(3, 4)
    x[2] = 0.0  # a padded position: its key is exactly zero
    with trace(model):
        loss = model(x).pow(2).sum()
        loss.backward()
    return model
