"""Found by the fuzzer (seed 7, program 3866). A state carried across two steps without .detach(); in each
step an fp16 overflow (x * 1e5 in half precision) makes Inf, which a linear layer and then a block under a
reentrant checkpoint take in. Step 2's backward raises in the freed graph of step 1. The checkpointed
block's parameters, which the recorded graph does not reach, get the NaN of the overflow: gradviz says it
was born in the forward mul, not inside the checkpoint's backward."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = RuntimeError  # Trying to backward through the graph a second time
NOTE = []
EXPECT = {
    "u0.weight": ("error", "@carried"),
    "u0.bias": ("error", "@carried"),
    "u1": ("nonfinite", "@fp16"),
    "u2.weight": ("nonfinite", "@fp16"),
}
GRADS = {"u0.weight": "none", "u0.bias": "none", "u1": "nonfinite", "u2.weight": "nonfinite"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u0 = nn.Linear(4, 4)
        self.u1 = nn.Parameter(torch.randn(4, 4) * 0.5)
        self.u2 = nn.Linear(4, 4, bias=False)

    def forward(self, x, state):
        h = torch.tanh(self.u0(state) + x)  # @carried
        h2 = (h.half() * 1e5).float()  # @fp16
        return checkpoint(self.u2, F.linear(h2, self.u1), use_reentrant=True), h


def run(trace):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(3, 4)
    with trace(model, optimizer=opt):
        state = torch.zeros(3, 4)
        for _ in range(2):
            opt.zero_grad()
            out, state = model(x, state)
            out.abs().sum().backward()
            opt.step()
    return model
