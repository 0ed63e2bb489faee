"""Truncated BPTT done wrong, both iterations inside one trace: the hidden state from the first iteration
enters the second without `.detach()`, and the first backward freed its graph. Truth: the second backward
raises "Trying to backward through the graph a second time". gradviz: the carried state's line (where the
earlier graph's output entered the new forward) with the fix `.detach()` there — not "pass
retain_graph=True", which would make every step backpropagate through all earlier ones."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = ["carried", "@carry", ".detach()"]
EXPECT = {
    "cell.weight_ih": ("error", "@carry"),
    "cell.weight_hh": ("error", "@carry"),
    "cell.bias_ih": ("error", "@carry"),
    "cell.bias_hh": ("error", "@carry"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("nonzero" if name.startswith("head") else "none") for name in EXPECT}
MESSAGE = {"cell.weight_hh": ["earlier step", "carries its autograd history"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(3, 5)
        self.head = nn.Linear(5, 1)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h = torch.zeros(2, 5)
    chunks = torch.randn(2, 4, 2, 3)
    with trace(model, optimizer=opt):
        for chunk in chunks:
            opt.zero_grad()
            for x in chunk:
                h = model.cell(x, h)  # @carry
            loss = model.head(h).pow(2).mean()
            loss.backward()
            opt.step()
    return model
