"""Found by the differential fuzzer (seed 61027, program 1883): an optimizer step fused into backward
(`register_post_accumulate_grad_hook`, one SGD per parameter) on a layer used three times, the last time
inside a reentrant `checkpoint`. The checkpoint's inner backward completes the weight's gradient first, so
the hook steps the weight in place while the outer graph still holds it for the two earlier uses. Truth:
backward raises RuntimeError "... modified by an inplace operation ... is at version 2; expected version 1";
no gradient reaches the weight's `.grad` (the hook sets it to None). gradviz: error, where = the step in the
hook (the write torch blames), not the `loss.backward()` line: the tracer does not see a backward's hooks,
so their writes are recorded by wrapping them (NOTE [writes during a backward])."""

import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = RuntimeError
NOTE = [("in-place", "inplace"), "@step"]
EXPECT = {"u0.weight": ("error", "@step"), "u0.bias": ("frozen", None), "u1": ("frozen", None)}
GRADS = {"u0.weight": "none", "u0.bias": "none", "u1": "none"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u0 = nn.Linear(4, 4)
        self.u1 = nn.Parameter(torch.rand(4) + 0.5)

    def forward(self, x):
        h = torch.tanh(self.u0(x)) * self.u1
        h = torch.tanh(self.u0(h))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            return checkpoint(self.u0, h, use_reentrant=True)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    model.u0.bias.requires_grad_(False)
    model.u1.requires_grad_(False)
    opts = {p: torch.optim.SGD([p], lr=0.1) for p in model.parameters() if p.requires_grad}

    def train_in_backward(p):
        opts[p].step()  # @step
        p.grad = None

    for p in opts:
        p.register_post_accumulate_grad_hook(train_in_backward)
    with trace(model):
        loss = F.mse_loss(model(torch.randn(3, 4)), torch.ones(3, 4))
        loss.backward()
    return model
