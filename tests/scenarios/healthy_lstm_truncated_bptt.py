"""LSTM trained with truncated backpropagation through time: the sequence is cut into chunks and the hidden
state is detached between chunks (`state = tuple(s.detach() for s in state)`), with zero_grad / backward /
step per chunk. Truth: every parameter gets a gradient in every chunk; the detach only stops gradients from
flowing into the previous chunk, which is the point. gradviz: all ok (these detaches are not cuts of any
parameter's path)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {}
GRADS = {
    "lstm.weight_ih_l0": "nonzero",
    "lstm.weight_hh_l0": "nonzero",
    "lstm.bias_ih_l0": "nonzero",
    "lstm.bias_hh_l0": "nonzero",
    "head.weight": "nonzero",
    "head.bias": "nonzero",
}


class Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x, state=None):
        out, state = self.lstm(x, state)
        return self.head(out), state


def run(trace):
    torch.manual_seed(0)
    model = Seq()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    xs, ys = torch.randn(2, 12, 3), torch.randn(2, 12, 1)
    state = None
    with trace(model, optimizer=opt):
        for start in range(0, 12, 4):
            opt.zero_grad()
            pred, state = model(xs[:, start : start + 4], state)
            loss = nn.functional.mse_loss(pred, ys[:, start : start + 4])
            loss.backward()
            opt.step()
            state = tuple(s.detach() for s in state)
    return model
