"""Found by the fuzzer (seed 7, program 1737). An RNN-like loop carries its state across two steps without
.detach(), zero_grad() at the top of each. Step 1's backward makes Inf in sqrt's backward (a distance of
a row to itself is 0), so the encoder's gradient is NaN and opt.step() writes NaN into it. Step 2's
forward is NaN from there on; its backward delivers the head its gradient and then raises, reaching the
carried state into step 1's freed graph. gradviz: the encoder is error at the line where the carried state
enters; the head, which got its gradient before the raise and helped compute a NaN loss, is nonfinite,
born where it was — sqrt's backward in step 1 — not "cleared" by the zero_grad() before it got it."""

import torch
from torch import nn

RAISES = RuntimeError  # "Trying to backward through the graph a second time"
NOTE = []
EXPECT = {
    "enc.weight": ("error", "@carried"),
    "enc.bias": ("error", "@carried"),
    "head.weight": ("nonfinite", "@sqrt"),
    "head.bias": ("nonfinite", "@sqrt"),
}
GRADS = {"enc.weight": "none", "enc.bias": "none", "head.weight": "nonfinite", "head.bias": "nonfinite"}
MESSAGE = {"head.weight": ["backward of sqrt"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 4)
        self.head = nn.Linear(4, 4)

    def forward(self, x, state):
        h = torch.tanh(self.enc(state) + x)  # @carried
        d = torch.sqrt((h - h.flip(0)) ** 2)  # @sqrt
        return self.head(h) + d, h


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
            out.pow(2).sum().backward()
            opt.step()
    return model
