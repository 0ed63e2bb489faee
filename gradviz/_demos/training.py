"""Short training runs under :func:`gradviz.watch`: the gradient-health cases of notebook 03.

Each returns a :class:`TrainingDemo` with the ``model``, the ``monitor``, its ``history``, the ``losses`` and,
where a single step explains the case, a ``trace`` of that step. Displayed, it shows the monitor.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from gradviz._demos._base import REGISTRY
from gradviz._trace import Trace, trace
from gradviz._watch import Monitor, watch
from gradviz.records import GradState, History
from gradviz.view import frozen_columns, run_text


@dataclass(frozen=True)
class TrainingSpec:
    name: str
    kind: str
    summary: str
    run: Callable[[], tuple[nn.Module, Monitor, list[float], Trace | None]]
    checks: Callable[[History, list[float]], dict[str, bool]]  # what it teaches -> holds?


class TrainingDemo:
    """A finished training run: ``model``, ``monitor``, ``history``, ``losses`` and maybe a ``trace``."""

    def __init__(self, spec: TrainingSpec) -> None:
        self.spec = spec
        with torch.random.fork_rng(devices=[]):  # seeded, and the caller's random state is left alone
            self.model, self.monitor, self.losses, self.trace = spec.run()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def history(self) -> History:
        return self.monitor.history

    def mismatches(self) -> list[str]:
        """The facts this demo teaches that do not hold (empty: all hold)."""
        return [fact for fact, holds in self.spec.checks(self.history, self.losses).items() if not holds]

    def check(self) -> None:
        bad = self.mismatches()
        if bad:
            raise AssertionError(f"demo {self.name}:\n  " + "\n  ".join(bad))

    def report(self) -> str:
        graph = self.monitor.graph[0] if self.monitor.graph is not None else None
        frozen = frozen_columns(self.history.names, graph)
        lines = [f"{self.name}: {self.spec.summary}", repr(self.monitor), run_text(self.history, frozen)]
        lines.append(f"loss: first step {self.losses[0]:.4g}, last step {self.losses[-1]:.4g}")
        lines += [f"  [{'x' if holds else ' '}] {fact}" for fact, holds in self._facts()]
        if self.trace is not None:
            lines += ["", self.trace.report()]
        return "\n".join(lines)

    def _facts(self) -> list[tuple[str, bool]]:
        return list(self.spec.checks(self.history, self.losses).items())

    def __repr__(self) -> str:
        return f"<gradviz demo {self.name}: {self.monitor!r}>"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.monitor)


def training_demo(summary: str, checks: Callable[[History, list[float]], dict[str, bool]]):
    """Register ``run`` (no arguments) as a training demo; the name becomes ``name() -> TrainingDemo``."""

    def register(run: Callable[[], Any]) -> Callable[[], TrainingDemo]:
        spec = TrainingSpec(run.__name__, "training", summary, run, checks)
        REGISTRY[spec.name] = spec

        def make() -> TrainingDemo:
            return TrainingDemo(spec)

        make.__name__ = make.__qualname__ = spec.name
        make.__module__ = "gradviz.demos"
        make.__doc__ = f"{summary}\n\nReturns a finished :class:`TrainingDemo`; display it for the monitor."
        return make

    return register


@contextlib.contextmanager
def _one_thread():
    """Tiny models train several times faster on one CPU thread (and the same on every machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _train(model, opt, X, Y, steps, loss_fn=F.mse_loss, **watch_options):
    losses = []
    with _one_thread(), watch(model, optimizer=opt, **watch_options) as mon:
        for _ in range(steps):
            loss = loss_fn(model(X), Y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return model, mon, losses, None


def _deep_mlp(activation, init=None, depth=10, width=32):
    torch.manual_seed(0)
    layers, d_in = [], 8
    for _ in range(depth):
        linear = nn.Linear(d_in, width)
        if init is not None:
            init(linear.weight)
        layers += [linear, activation()]
        d_in = width
    return nn.Sequential(*layers, nn.Linear(width, 1))


def _regression():
    torch.manual_seed(1)
    X = torch.randn(256, 8)
    return X, torch.sin(2 * X[:, :1]) * X[:, 1:2]


def _ratio(h: History, step: int) -> float:
    return float(h.grad_norm[step, h.index("0.weight")] / h.grad_norm[step, h.index("18.weight")])


@training_demo(
    "10 sigmoid layers: gradients shrink ~10x per layer; the first layers stall.",
    lambda h, losses: {
        "first layer's gradient < 1e-6 x the last hidden layer's at step 0": _ratio(h, 0) < 1e-6,
        "first layer's gradient norm < 1e-6 at every step": bool((h.grad_norm[:, 0] < 1e-6).all()),
        "the loss hardly moves": abs(losses[-1] - losses[0]) < 0.02,
    },
)
def vanishing_gradients():
    model = _deep_mlp(nn.Sigmoid)
    return _train(model, torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9), *_regression(), steps=60)


@training_demo(
    "Same depth, ReLU + Kaiming init: similar gradients in every layer; it learns.",
    lambda h, losses: {
        "first layer's gradient > 0.01 x the last hidden layer's at step 0": _ratio(h, 0) > 0.01,
        "every gradient finite at every step": bool((h.state == GradState.finite).all()),
        "the loss falls more than tenfold": losses[-1] < 0.1 * losses[0],
    },
)
def healthy_deep_relu():
    model = _deep_mlp(nn.ReLU, init=lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"))
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    return _train(model, opt, *_regression(), steps=150)


def bce_by_hand(logits, y):
    p = torch.sigmoid(logits)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def _nan_step(losses: list[float]) -> int:
    return next((i for i, loss in enumerate(losses) if math.isnan(loss)), -1)


@dataclass
class Run:
    """Everything a training demo's loop uses, built fresh and seeded: replaying it in plain torch (no
    gradviz) gives the same steps, which is how the tests check what the monitor recorded."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    X: torch.Tensor
    Y: torch.Tensor
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    steps: int


def nan_run() -> Run:
    """A classifier trained with a hand-written log(sigmoid) loss at lr 2: NaN at step 146."""
    torch.manual_seed(1)
    X = torch.randn(256, 2)
    y = (X[:, :1] + X[:, 1:] > 0).float()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    return Run(model, torch.optim.SGD(model.parameters(), lr=2.0), X, y, bce_by_hand, steps=200)


@training_demo(
    "A hand-written log(sigmoid) loss turns NaN mid-run; the trace names the log.",
    lambda h, losses: {
        "first_nonfinite is the step where the loss became NaN": (
            h.first_nonfinite is not None and h.first_nonfinite[0] == _nan_step(losses) > 0
        ),
        "every gradient non-finite from that step on": bool(
            (h.state[_nan_step(losses) :] == GradState.nonfinite).all()
        ),
    },
)
def nan_from_log():
    run = nan_run()
    model, mon, losses, _ = _train(run.model, run.optimizer, run.X, run.Y, run.steps, loss_fn=run.loss_fn)
    replay = nan_run()  # replay the seeded run up to the first NaN step, then trace that step
    X, y, opt = replay.X, replay.Y, replay.optimizer
    with _one_thread():
        for _ in range(max(_nan_step(losses), 0)):
            opt.zero_grad()
            bce_by_hand(replay.model(X), y).backward()
            opt.step()
    with trace(replay.model, optimizer=opt) as t:
        opt.zero_grad()
        bce_by_hand(replay.model(X), y).backward()
    return model, mon, losses, t


def _relu_regression():
    torch.manual_seed(1)
    X = torch.rand(256, 8)
    return X, (X.sum(1, keepdim=True) - 4) * 3


def dead_relu_run() -> Run:
    """A small ReLU network trained at lr 0.3: one overshooting step kills every hidden unit."""
    X, Y = _relu_regression()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    return Run(model, torch.optim.SGD(model.parameters(), lr=0.3), X, Y, F.mse_loss, steps=60)


@training_demo(
    "Too large a learning rate kills every ReLU: zero gradients from then on.",
    lambda h, losses: {
        "all but the output bias have zero gradients at the last step": bool(
            (h.state[-1, :-1] == GradState.zero).all()
        ),
        "the output bias still gets a finite gradient at every step": bool(
            (h.state[:, -1] == GradState.finite).all()
        ),
        "the hidden layers were alive at step 0": bool((h.state[0] == GradState.finite).all()),
    },
)
def dead_relus():
    run = dead_relu_run()
    return _train(run.model, run.optimizer, run.X, run.Y, run.steps, loss_fn=run.loss_fn)


class _BodyHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.head = nn.Linear(32, 1)

    def forward(self, x):
        return self.head(self.body(x))


@training_demo(
    "The optimizer holds only the head: the body never updates, its grad piles up.",
    lambda h, losses: {
        "body's update never measured (update_ratio NaN: the optimizer does not hold it)": bool(
            np.isnan(h.update_ratio[:, :4]).all()
        ),
        "head updated at every step": bool(np.isfinite(h.update_ratio[:, 4:]).all()),
        "body gradients keep growing": bool((h.grad_norm[-1, :4] > 10 * h.grad_norm[0, :4]).all()),
    },
)
def untrained_body():
    torch.manual_seed(0)
    model = _BodyHead()
    opt = torch.optim.SGD(model.head.parameters(), lr=0.03)
    return _train(model, opt, *_relu_regression(), steps=40, weights_every=1)
