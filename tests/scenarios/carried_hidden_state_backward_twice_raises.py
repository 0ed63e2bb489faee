"""An RNN whose hidden state is carried from step to step without `.detach()`: the second step's backward
walks into the first step's graph, already freed. Truth: RuntimeError "Trying to backward through the graph
a second time". The traced step also calls zero_grad() first. gradviz used to say `cleared` at that
zero_grad line; now every parameter whose gradient this backward did not produce is `error`, where = the line
where the carried state enters the step, and the note says to detach it there (not retain_graph=True). The
head's gradient was computed before backward reached the freed part: it arrived (ok)."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = ["carried", "@carry", ".detach()"]
EXPECT = {
    "rnn.weight_ih_l0": ("error", "@carry"),
    "rnn.weight_hh_l0": ("error", "@carry"),
    "rnn.bias_ih_l0": ("error", "@carry"),
    "rnn.bias_hh_l0": ("error", "@carry"),
    "head.weight": ("ok", "*"),
    "head.bias": ("ok", "*"),
}
GRADS = {name: ("nonzero" if name.startswith("head") else "none") for name in EXPECT}
MESSAGE = {"rnn.weight_hh_l0": ["earlier step", "carries its autograd history"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(3, 5, batch_first=True)
        self.head = nn.Linear(5, 1)

    def forward(self, x, h):
        out, h = self.rnn(x, h)  # @carry
        return self.head(out[:, -1]), h


def run(trace):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h = torch.zeros(1, 2, 5)
    x = torch.randn(2, 4, 3)
    out, h = model(x, h)  # the previous step, untraced: h now carries its graph
    out.pow(2).mean().backward()
    opt.step()
    with trace(model, optimizer=opt):
        opt.zero_grad()
        out, h = model(x, h)
        out.pow(2).mean().backward()
    return model
