"""Found by the fuzzer (seed 7, program 1277). A block under a reentrant torch.utils.checkpoint, then a
square root written as ** 0.5 of a distance that is 0 (a row against itself), two backwards accumulating.
The forward is finite; the backward of pow is Inf at 0 and the NaN flows into every parameter, including
those inside the checkpoint, which the recorded graph does not reach (their backward runs inside the
checkpoint's own). gradviz: nonfinite at the ** 0.5 line, born in the backward of pow, for all four."""

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = {
    "u0.weight": ("nonfinite", "@pow"),
    "u0.bias": ("nonfinite", "@pow"),
    "u1.weight": ("nonfinite", "@pow"),
    "u1.bias": ("nonfinite", "@pow"),
}
GRADS = dict.fromkeys(EXPECT, "nonfinite")
MESSAGE = {"u1.weight": ["backward of pow"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u0 = nn.Linear(4, 4)
        self.u1 = nn.Linear(4, 4)

    def forward(self, x):
        h = checkpoint(self.u1, self.u0(x), use_reentrant=True)
        return (h - h.flip(0)).abs() ** 0.5  # @pow


def run(trace):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(3, 4)
    with trace(model, optimizer=opt):
        opt.zero_grad()
        for _ in range(2):
            loss = model(x).pow(2).mean()
            loss.backward()
        opt.step()
    return model
