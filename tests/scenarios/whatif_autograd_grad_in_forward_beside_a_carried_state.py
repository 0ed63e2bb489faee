"""Found by the differential fuzzer (seeds 12345, program 1817, and 90210, program 2482): a forward that
calls `torch.autograd.grad` on an intermediate (asking for it alone), feeds that gradient to a layer, and
carries its state across steps with `.detach()`. Truth: `u0` learns (through `self.u0(g)`); `u1` gets no
gradient (only through a comparison). The what-if of the carried state's `.detach()` said `u0` was "still
not reached" (another cut stops it too): the `autograd.grad` call that asked for other tensors marked it
not requested, and a later backward's delivery did not count as learning already."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {"u1.weight": ("non_differentiable", "@gt"), "u1.bias": ("non_differentiable", "@gt")}
GRADS = {"u0.weight": "nonzero", "u0.bias": "nonzero", "u1.weight": "none", "u1.bias": "none"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u0 = nn.Linear(4, 4)
        self.u1 = nn.Linear(4, 4)

    def forward(self, x, state):
        h = torch.tanh(self.u0(state) + x)
        g = torch.autograd.grad((h * h).sum(), h)[0]
        out = self.u0(g) + (self.u1(h) > 0).float()  # @gt
        return out, h


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
            state = state.detach()
    return model
