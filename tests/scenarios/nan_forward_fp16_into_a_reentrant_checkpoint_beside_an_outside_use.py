"""Found by the differential fuzzer (seed 6355, program 2647): a layer used inside a reentrant `checkpoint`
whose input overflowed float16 in the forward, and again outside it on finite values. Truth: its `.grad`
is NaN; the NaN reaches it only through the checkpoint's own backward (the outside use's gradient is
finite), and it was born in the forward, at the fp16 product. gradviz: nonfinite at that product. It
blamed the outside use's linear ("its backward turned a finite gradient into NaN"): the parameter's node
showed the sum of both arrivals, and then, showing only the outside one, no path to the NaN was left."""

import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RAISES = None
NOTE = []
EXPECT = {
    "u0.weight": ("nonfinite", "@fp16"),
    "u0.bias": ("nonfinite", "@fp16"),
    "u1.weight": ("nonfinite", "@fp16"),
    "u1.bias": ("nonfinite", "@fp16"),
    "side.weight": ("nonfinite", "@fp16"),
    "side.bias": ("nonfinite", "@fp16"),
}
GRADS = {
    "u0.weight": "nonfinite",
    "u0.bias": "nonzero",
    "u1.weight": "nonfinite",
    "u1.bias": "nonzero",
    "side.weight": "nonzero",
    "side.bias": "nonzero",
}
LOSS_NONFINITE = True


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.u0 = nn.Linear(4, 4)
        self.u1 = nn.Linear(4, 4)
        self.side = nn.Linear(4, 4)

    def forward(self, x):
        h = self.u0((x.half() * 1e5).float())  # @fp16
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            inside = checkpoint(self.u1, h, use_reentrant=True)
        return inside + self.u1(torch.tanh(self.side(x)))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    with trace(model):
        loss = model(torch.randn(3, 4)).abs().sum()
        loss.backward()
    return {**dict(model.named_parameters()), "loss": loss.detach()}
