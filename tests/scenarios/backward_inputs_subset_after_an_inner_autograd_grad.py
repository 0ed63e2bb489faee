"""Found by the fuzzer (seed 7, program 392). The forward takes an inner derivative with
torch.autograd.grad (without create_graph, its result carries no graph) and adds it to the path it came
from; the training step then calls loss.backward(inputs=[model.head.bias]). Both calls reach enc, and
neither asked for it; enc still reaches the loss through h directly, so the inner autograd.grad is not
its cut. gradviz: not_requested at the backward(inputs=...) line — the training step that left it out —
not at the inner autograd.grad, a step of the computation."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "enc.weight": ("not_requested", "@inputs"),
    "enc.bias": ("not_requested", "@inputs"),
    "head.weight": ("not_requested", "@inputs"),
    "head.bias": ("ok", None),
}
GRADS = {"enc.weight": "none", "enc.bias": "none", "head.weight": "none", "head.bias": "nonzero"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 4)
        self.head = nn.Linear(4, 4)

    def forward(self, x):
        h = torch.tanh(self.enc(x))
        slope = torch.autograd.grad((h * h).sum(), h)[0]
        return h + slope + self.head(x)


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(3, 4)
    with trace(model):
        loss = model(x).pow(2).mean()
        loss.backward(inputs=[model.head.bias])  # @inputs
    return model
