"""What really leaves a gradient None, or a parameter that never trains. None of these raises."""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from gradviz._demos._base import demo, encoder_head, linear, no_optimizer, three_scalars

ENCODER_CUT = {"encoder.*": "detach", "head.*": "ok"}


@demo("none", ENCODER_CUT, build=encoder_head, where={"encoder.*": "h = h.detach()"})
def detach_in_forward(model, opt):
    """A stray `.detach()` between encoder and head: the encoder never learns."""
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    h = torch.tanh(model.encoder(x))
    h = h.detach()
    loss = F.mse_loss(model.head(h), y)
    loss.backward()


def frozen_linear() -> nn.Module:
    model = nn.Linear(10, 1)
    model.weight.requires_grad = False
    return model


@demo("none", {"weight": "frozen", "bias": "ok"}, build=frozen_linear)
def frozen_weight(model, opt):
    """`weight.requires_grad = False`: the weight gets None, the bias learns."""
    x, y = torch.randn(8, 10), torch.randn(8, 1)
    loss = F.mse_loss(model(x), y)
    loss.backward()


@demo("none", {"a": "ok", "b": "ok", "c": "unused"}, build=three_scalars, optimizer=no_optimizer)
def unused_tensor(tensors, opt):
    """`loss = (a * b) ** 2`: c takes no part, so c.grad is None."""
    a, b = tensors["a"], tensors["b"]
    loss = (a * b) ** 2
    loss.backward()


@demo(
    "none", {"encoder.*": "no_grad", "head.*": "ok"}, build=encoder_head,
    where={"encoder.*": "with torch.no_grad():"},
)  # fmt: skip
def no_grad_block(model, opt):
    """The encoder runs under `torch.no_grad()`: it gets None."""
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with torch.no_grad():
        h = model.encoder(x)
    loss = F.mse_loss(model.head(torch.tanh(h)), y)
    loss.backward()


class Router(nn.Module):
    def __init__(self):
        super().__init__()
        self.scorer = nn.Linear(4, 5)
        self.table = nn.Parameter(torch.randn(5, 3))

    def forward(self, x):
        idx = self.scorer(x).argmax(dim=1)  # integer indices: no gradient to the scorer
        return self.table[idx]


@demo("none", {"scorer.*": "non_differentiable", "table": "ok"}, build=Router, where={"scorer.*": "argmax"})
def argmax_index(model, opt):
    """Indices from argmax have no gradient: the scorer gets None, the table learns."""
    x = torch.randn(8, 4)
    loss = model(x).pow(2).mean()
    loss.backward()


@demo("none", {"*": "escaped"}, build=linear, where={"*": ".item()"})
def item_round_trip(model, opt):
    """`.item()`, then `torch.tensor(value, requires_grad=True)`: the model gets None."""
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    value = F.mse_loss(model(x), y).item()
    loss = torch.tensor(value, requires_grad=True)
    loss.backward()


@demo("none", {"*": "ok"}, build=linear)
def zero_grad_after_backward(model, opt):
    """`zero_grad()` after `step()`: .grad is None after the loop, yet the model learns."""
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for _ in range(3):
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()


class ListNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(4, 8), nn.Linear(8, 8)]  # a plain list: never registered
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return self.head(x)


@demo("none", {"layers.*": "unregistered", "head.*": "ok"}, build=ListNet)
def plain_list_of_modules(model, opt):
    """Layers in a plain list get gradients, but the optimizer never sees them."""
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    opt.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.backward()
    opt.step()


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)
        self.scale = torch.ones(1, requires_grad=True)  # a plain tensor, not nn.Parameter

    def forward(self, x):
        return self.linear(x) * self.scale


@demo("none", {"scale": "unregistered", "linear.*": "ok"}, build=Scaled)
def tensor_attribute(model, opt):
    """A plain tensor attribute with requires_grad gets a gradient, never trains."""
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    loss = F.mse_loss(model(x), y)
    loss.backward()
    opt.step()


class Checkpointed(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        with warnings.catch_warnings():  # torch warns "None of the inputs have requires_grad=True"
            warnings.filterwarnings("ignore", "None of the inputs have requires_grad", UserWarning)
            h = checkpoint(self.block, x, use_reentrant=True)
        return self.head(torch.tanh(h))


@demo("none", {"block.*": "checkpoint", "head.*": "ok"}, build=Checkpointed, where={"block.*": "checkpoint("})
def reentrant_checkpoint(model, opt):
    """Reentrant checkpoint of an input that does not require grad: the block gets None."""
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    loss = F.mse_loss(model(x), y)
    loss.backward()


def head_only_sgd(model: nn.ModuleDict) -> torch.optim.Optimizer:
    return torch.optim.SGD(model["head"].parameters(), lr=0.1)


@demo("none", {"encoder.*": "not_in_optimizer", "head.*": "ok"}, build=encoder_head, optimizer=head_only_sgd)
def optimizer_misses_submodule(model, opt):
    """The optimizer holds only the head: the encoder never updates."""
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    loss = F.mse_loss(model.head(torch.tanh(model.encoder(x))), y)
    loss.backward()
    opt.step()
