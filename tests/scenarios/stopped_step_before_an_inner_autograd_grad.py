"""Two losses; the first has no graph (it is computed from the input alone), so its backward raises "does
not require grad" and the second loss's backward never runs. The second loss's branch holds an
`autograd.grad(..., h)` that asks only for an activation. Truth: no parameter gets a gradient, because the
step stopped. gradviz: every trainable parameter `error` at the backward that raised; the inner
autograd.grad, which did not ask for the parameters, is not why (it is a step of the computation)."""

import torch
from torch import nn

RAISES = RuntimeError
NOTE = ["@first"]
EXPECT = {
    "enc.weight": ("error", "@first"),
    "enc.bias": ("error", "@first"),
    "head.weight": ("error", "@first"),
    "head.bias": ("error", "@first"),
}
GRADS = {"enc.weight": "none", "enc.bias": "none", "head.weight": "none", "head.bias": "none"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 4)
        self.head = nn.Linear(4, 4)

    def forward(self, x):
        side = torch.sigmoid(x)
        h = self.enc(x)
        g = torch.autograd.grad((h * h).sum(), h)[0]  # asks for h alone, keeps no graph
        return side, self.head(g)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(3, 4)
    with trace(model):
        side, out = model(x)
        side.abs().sum().backward(retain_graph=True)  # @first
        out.abs().sum().backward()
    return model
