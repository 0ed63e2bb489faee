"""Found by the fuzzer (seed 7, program 1713). log of data with a repeated row makes -Inf in the forward
(log(0)); the values are then copied into a new tensor (torch.tensor of a list of its elements) before the
head, so no autograd edge links the head to the log. The head's gradients are NaN (-Inf meets +Inf in its
matmul). gradviz: nonfinite, born in the forward of log at its own line — the Inf is followed through the
copy, not taken for one the head made by overflow; the scale, whose values were copied, escaped."""

import warnings

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "scale": ("escaped", "@copy"),
    "head.weight": ("nonfinite", "@log"),
    "head.bias": ("nonfinite", "@log"),
}
GRADS = {"scale": "none", "head.weight": "nonfinite", "head.bias": "nonfinite"}
MESSAGE = {"head.weight": ["forward of log"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.rand(4) + 0.5)
        self.head = nn.Linear(4, 4)

    def forward(self, x):
        h = torch.log((x - x.flip(0)).abs())  # @log
        h = (h + 1.0) * self.scale
        h = torch.tensor(list(h.flatten())).view(3, 4)  # @copy
        return self.head(h)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.tensor of tensors that require grad warns, traced or not
        with trace(model):
            loss = model(x).pow(2).mean()
            loss.backward()
    return model
