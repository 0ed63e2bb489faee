"""A demo is one small training step run under :func:`gradviz.trace`, with the verdicts it teaches.

Each demo is written as a plain ``step(model, optimizer)`` function (the code a teacher shows) and
registered with :func:`demo`, which turns it into a zero-argument factory returning a finished
:class:`Demo`. Everything is seeded, tiny and runs on the CPU in milliseconds.
"""

from __future__ import annotations

import fnmatch
import inspect
import linecache
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gradviz._trace import Trace, trace
from gradviz.records import Verdict

KINDS = {
    "graph": "The autograd graph of a small model, to read node by node",
    "myth": "Myths: the popular explanation is wrong, every parameter learns",
    "raises": "Not None: torch raises an error (gradviz notes the real line)",
    "none": "Facts: what really leaves a gradient None, or a parameter untrained",
    "values": "The gradient exists but is zero or NaN",
    "training": "Gradient health over a short training run (gradviz.watch)",
    "model": "A small transformer with a realistic hidden bug, and the same model fixed",
}


@dataclass(frozen=True)
class Spec:
    """What a demo runs and what it teaches."""

    name: str
    kind: str  # a key of KINDS
    summary: str  # one line: the first line of the step function's docstring
    expect: Mapping[str, str]  # fnmatch pattern of verdict names -> cause
    where: Mapping[str, str]  # fnmatch pattern -> text of the line ``verdict.where`` must point at
    build: Callable[[], Any]  # the model (or a dict of name -> tensor)
    step: Callable[[Any, Any], Any]  # one forward and backward (and maybe an optimizer step)
    optimizer: Callable[[Any], torch.optim.Optimizer | None]
    raises: type[BaseException] | None  # the exception the step raises (the demo keeps it)


def sgd(model: Any) -> torch.optim.Optimizer | None:
    """The default optimizer: SGD over ``model.parameters()`` (None for a dict of tensors)."""
    return torch.optim.SGD(model.parameters(), lr=0.1) if isinstance(model, nn.Module) else None


def no_optimizer(model: Any) -> None:
    return None


class Demo:
    """One demo, run: ``model``, ``optimizer``, the finished ``trace`` and the ``error`` it raised (if any).

    Displayed as a notebook cell's last expression it shows the gradviz widget of its trace.
    ``step()`` runs the demo's step again on the same model under a new trace; ``check()`` asserts the
    verdicts it teaches; ``source`` is the code of the case.
    """

    def __init__(self, spec: Spec, seed: int = 0) -> None:
        self.spec, self.seed, self.steps = spec, seed, 0
        with torch.random.fork_rng(devices=[]):  # seeded, and the caller's random state is left alone
            torch.manual_seed(seed)
            self.model = spec.build()
            self.optimizer = spec.optimizer(self.model)
        self.trace: Trace
        self.error: BaseException | None = None
        self.step()

    def step(self) -> Trace:
        """Run the demo's step once more (same model, a new seeded batch) under a new trace."""
        self.error = None
        t = trace(self.model, optimizer=self.optimizer)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + self.steps)
            try:
                with t:
                    self.spec.step(self.model, self.optimizer)
            except Exception as exc:
                if self.spec.raises is None or not isinstance(exc, self.spec.raises):
                    raise
                self.error = exc  # kept with gradviz's note: print(*demo.error.__notes__)
        self.steps += 1
        self.trace = t
        return t

    # -- what it shows ---------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def verdicts(self) -> dict[str, Verdict]:
        return self.trace.verdicts

    @property
    def problems(self) -> dict[str, Verdict]:
        return self.trace.problems

    def report(self) -> str:
        """The trace's text report, preceded by the demo's one-line summary (and the error, if any)."""
        head = [f"{self.name}: {self.spec.summary}"]
        if self.error is not None:  # the report ends with the error itself; gradviz's note is on it
            head += getattr(self.error, "__notes__", [])
        return "\n".join([*head, "", self.trace.report()])

    @property
    def source(self) -> str:
        """The code of the case: the model's class (when the bug is in it) and the step function."""
        parts = []
        if getattr(self.spec.build, "__module__", "").startswith("gradviz._demos"):
            parts.append(textwrap.dedent(inspect.getsource(self.spec.build)))
        step = textwrap.dedent(inspect.getsource(self.spec.step))
        parts.append(step[step.index("def ") :])  # without the @demo(...) decorator
        return "\n\n".join(parts)

    # -- checks ----------------------------------------------------------------------------------------

    def mismatches(self) -> list[str]:
        """Differences between the verdicts and the causes this demo teaches (empty: all as taught)."""
        out = []
        if self.spec.raises is not None and self.error is None:
            out.append(f"expected {self.spec.raises.__name__}, nothing was raised")
        verdicts = self.verdicts
        for pattern in self.spec.expect:
            if not fnmatch.filter(verdicts, pattern):
                out.append(f"no verdict matches {pattern!r}")
        for name, v in verdicts.items():
            want = next((c for p, c in self.spec.expect.items() if fnmatch.fnmatchcase(name, p)), None)
            if want is None:
                out.append(f"{name}: {v.cause} is not covered by the demo's expectations")
            elif v.cause != want:
                out.append(f"{name}: cause {v.cause}, the demo teaches {want}")
        return out

    def where_mismatches(self) -> list[str]:
        """Verdicts whose ``where`` does not point at the line this demo expects (empty: all right)."""
        out = []
        for name, v in self.verdicts.items():
            want = next((c for p, c in self.spec.where.items() if fnmatch.fnmatchcase(name, p)), None)
            if want is None:
                continue
            got = _line_at(v.where)
            if want not in got:
                out.append(f"{name}: where={v.where!r} (`{got}`), expected the line with `{want}`")
        return out

    def check(self) -> None:
        """Raise AssertionError unless every verdict is the one this demo teaches."""
        bad = self.mismatches()
        if bad:
            raise AssertionError(f"demo {self.name}:\n  " + "\n  ".join(bad))

    # -- display ---------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        raised = f", raised {type(self.error).__name__}" if self.error is not None else ""
        return f"<gradviz demo {self.name}: {self.trace!r}{raised}>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.trace._repr_mimebundle_(include=include, exclude=exclude)
        data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
        return {**data, "text/plain": self.report()}, meta


def _line_at(where: str | None) -> str:
    if not where:
        return ""
    file, _, line = where.rpartition(":")
    return linecache.getline(file, int(line)).strip() if line.isdigit() else ""


# Every demo by name: a Spec, or a training.TrainingSpec; both have name, kind (a key of KINDS) and summary.
REGISTRY: dict[str, Any] = {}


def demo(
    kind: str,
    expect: Mapping[str, str],
    *,
    build: Callable[[], Any],
    where: Mapping[str, str] | None = None,
    optimizer: Callable[[Any], torch.optim.Optimizer | None] = sgd,
    raises: type[BaseException] | None = None,
    name: str | None = None,
    summary: str | None = None,
) -> Callable[[Callable[[Any, Any], Any]], Callable[..., Demo]]:
    """Register ``step`` as a demo; the decorated name becomes ``name(seed=0) -> Demo``.

    The demo is called ``name`` (default: the step's name) and described by ``summary`` (default: the first
    line of the step's docstring).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown demo kind {kind!r}; one of {', '.join(KINDS)}")

    def register(step: Callable[[Any, Any], Any]) -> Callable[..., Demo]:
        doc = summary or inspect.getdoc(step) or step.__name__
        spec = Spec(
            name or step.__name__, kind, doc.splitlines()[0], dict(expect), dict(where or {}), build, step,
            optimizer, raises,
        )  # fmt: skip
        if spec.name in REGISTRY:
            raise ValueError(f"two demos are called {spec.name!r}")
        REGISTRY[spec.name] = spec

        def make(seed: int = 0) -> Demo:
            return Demo(spec, seed)

        make.__name__ = make.__qualname__ = spec.name
        make.__module__ = "gradviz.demos"
        make.__doc__ = f"{doc}\n\nReturns a finished :class:`Demo`; display it to see the widget."
        return make

    return register


# -- small models shared by the demos ------------------------------------------------------------------


def encoder_head() -> nn.Module:
    """An encoder Linear(4, 8) and a head Linear(8, 1); the step functions write the forward."""
    return nn.ModuleDict({"encoder": nn.Linear(4, 8), "head": nn.Linear(8, 1)})


def linear() -> nn.Module:
    """A single Linear(4, 1)."""
    return nn.Linear(4, 1)


def three_scalars() -> dict[str, torch.Tensor]:
    """Plain tensors a, b, c that require grad (watched as a dict, not a model)."""
    return {name: torch.randn((), requires_grad=True) for name in "abc"}
