"""Found by the fuzzer (seed 7, programs 1640 and 1737): two training steps inside one trace, zero_grad()
at the top of the loop. On the second step the hidden layer is dead (its bias pushed to -100 before the
forward), so the second backward delivers exactly zero to it and to the output layer's weight. Their .grad
after the run is that zero, written after zero_grad emptied the first step's gradient: gradviz says zero
(dead ReLU), not cleared by the zero_grad() before it, and not ok from the first step's finite gradient."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "0.weight": ("zero", "@relu"),
    "0.bias": ("zero", "@relu"),
    "2.weight": ("zero", "@relu"),
    "2.bias": ("ok", None),
}
GRADS = {"0.weight": "zero", "0.bias": "zero", "2.weight": "zero", "2.bias": "nonzero"}


def run(trace):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(3, 4)
    with trace(model, optimizer=opt):
        for i in range(2):
            opt.zero_grad()
            if i == 1:
                with torch.no_grad():
                    model[0].bias.fill_(-100.0)  # every unit of the hidden layer dead from here on
            out = model(x)  # @relu
            out.sum().backward()
            opt.step()
    return model
