"""A distance ``sqrt((h - h.flip(0)) ** 2)`` whose middle row is zero (sqrt's backward is infinite at 0),
in a step that calls ``backward(inputs=[emb.weight])`` for the embedding only. Truth: the embedding's
gradient is NaN; the others were not asked for. gradviz: the embedding nonfinite at the sqrt line, born in
sqrt's backward; under ``inputs=`` autograd runs the add above it without its norm hook reporting, and the
walk towards the birth goes through it. Found by the differential fuzzer (seed 31337, program 273)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "emb.weight": ("nonfinite", "@sqrt"),
    "lin.weight": ("not_requested", "@backward"),
    "lin.bias": ("not_requested", "@backward"),
}
GRADS = {"emb.weight": "nonfinite", "lin.weight": "none", "lin.bias": "none"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 4)
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        h = self.lin(torch.relu(x)) + self.emb(torch.arange(3))
        d = torch.sqrt((h - h.flip(0)) ** 2)  # @sqrt
        return x + self.emb(torch.arange(3)) + d


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(3, 4)
    with trace(model):
        loss = model(x).abs().sum()
        loss.backward(inputs=[model.emb.weight])  # @backward
    return model
