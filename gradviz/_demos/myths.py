"""Popular explanations of a None gradient that are wrong: in each of these, every parameter learns."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from gradviz._demos._base import demo, encoder_head, linear

ALL_OK = {"*": "ok"}


@demo("myth", ALL_OK, build=encoder_head)
def detach_input(model, opt):
    """`x = x.detach()` on the input: the layers still learn (only x.grad is None)."""
    x = torch.randn(8, 4, requires_grad=True)
    x = x.detach()
    loss = model.head(torch.tanh(model.encoder(x))).sum()
    loss.backward()


@demo("myth", ALL_OK, build=linear)
def scale_output(model, opt):
    """`out = linear(x) * 2.0` detaches nothing: gradients flow as usual."""
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    out = model(x) * 2.0
    loss = F.mse_loss(out, y)
    loss.backward()


@demo("myth", ALL_OK, build=linear)
def scale_output_inplace(model, opt):
    """`t *= 2.0` on a Linear output is fine (Linear does not save its output)."""
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    t = model(x)
    t *= 2.0
    loss = F.mse_loss(t, y)
    loss.backward()


def rnn_head() -> nn.Module:
    return nn.ModuleDict({"rnn": nn.RNN(4, 8, batch_first=True), "head": nn.Linear(8, 1)})


@demo("myth", ALL_OK, build=rnn_head)
def rnn_h0_detach(model, opt):
    """Detaching a fresh `h0 = torch.zeros(...)` cuts nothing: it has no history."""
    x, y = torch.randn(3, 5, 4), torch.randn(3, 1)
    h0 = torch.zeros(1, 3, 8).detach()
    out, _ = model.rnn(x, h0)
    loss = F.mse_loss(model.head(out[:, -1]), y)
    loss.backward()


class Bilinear(nn.Module):
    def __init__(self, h=4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(h, h))  # an nn.Parameter attribute IS registered

    def forward(self, x):
        return torch.matmul(x, self.weight)


@demo("myth", ALL_OK, build=Bilinear)
def parameter_attribute(model, opt):
    """`self.weight = nn.Parameter(...)` is registered and learns."""
    x = torch.randn(8, 4)
    loss = model(x).pow(2).mean()
    loss.backward()


@demo("myth", ALL_OK, build=linear)
def zero_grad_top_of_loop(model, opt):
    """`zero_grad()` at the top of the loop is the normal loop; nothing is None."""
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for _ in range(3):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()


class Lookup(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(torch.randn(6, 3))

    def forward(self, idx, mask):
        return self.table[idx].sum(0) + self.table[mask].sum(0) + self.table[1:3].sum(0)


@demo("myth", ALL_OK, build=Lookup)
def indexing(model, opt):
    """Indexing with an index tensor, a mask or a slice keeps the gradient."""
    idx = torch.tensor([0, 2, 2, 5])
    mask = torch.tensor([True, False, True, False, False, True])
    loss = model(idx, mask).pow(2).sum()
    loss.backward()
