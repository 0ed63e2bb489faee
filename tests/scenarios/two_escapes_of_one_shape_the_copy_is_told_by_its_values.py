"""Found by the fuzzer (seed 2026, program 2716). Two outputs of the same shape leave torch through numpy
and come back as new tensors (from_numpy of a copy): the frozen encoder's, then the head's. The first
loss is computed from the encoder's copy only; it has no grad_fn, so its backward raises before the
head's loss is backpropagated. The encoder's copy is told from the head's by its values, not by its
shape alone: gradviz says the step's error is why the head got nothing (its loss never ran), not an
escape into a loss it does not feed."""

import torch
from torch import nn

RAISES = RuntimeError  # element 0 of tensors does not require grad and does not have a grad_fn
NOTE = []
EXPECT = {"enc.weight": ("frozen", None), "head.weight": ("error", "@first")}
GRADS = {"enc.weight": "none", "head.weight": "none"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 4, bias=False)
        self.head = nn.Linear(4, 4, bias=False)

    def forward(self, x):
        a = torch.from_numpy(self.enc(x).detach().numpy().copy())
        b = torch.from_numpy(self.head(x).detach().numpy().copy())
        return a, b


def run(trace):
    torch.manual_seed(0)
    model = Net()
    model.enc.requires_grad_(False)
    x = torch.randn(3, 4)
    with trace(model):
        a, b = model(x)
        a.pow(2).mean().backward(retain_graph=True)  # @first
        b.pow(2).mean().backward()
    return model
