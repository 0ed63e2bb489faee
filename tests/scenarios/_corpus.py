"""Loader and helpers for the scenario corpus (``tests/scenarios/*.py``).

Each scenario file is one small, runnable case with its true verdicts::

    RAISES = RuntimeError | None          # exception type that escapes the ``with`` (None: nothing escapes)
    NOTE = ["detach", "@cut", ("in-place", "inplace")]
    EXPECT = {"weight": ("detach", "@cut"), "bias": ("ok", "*")}
    GRADS = {"weight": "none", "bias": "nonzero"}
    def run(trace): ...

NOTE entries are substrings the gradviz note on the escaping exception must contain (compared lowercase).
An entry ``"@name"`` is the marker's resolved ``"basename:line"``; a tuple means "any one of these".
EXPECT maps a verdict name to ``(cause, where)``: ``where`` is ``"@name"`` (the line carrying the comment
``# @name``), ``None`` (``verdict.where`` must be None) or ``"*"`` (any ``where``).
GRADS is the plain-torch truth of each tensor's ``.grad`` after the run:
``none | zero | nonzero | nonfinite``.

``run(trace)`` receives a factory with the signature of ``gradviz.trace``; it returns the object GRADS names
refer to (an ``nn.Module``, names resolved as attribute paths such as ``layers.0.weight``, or a dict
name -> tensor). When ``run`` raises, GRADS names resolve against the first argument given to ``trace``.

Optional:
``FRESH = True``: GRADS is what the traced backward *delivered*, not what ``.grad`` holds afterwards (for
cases where ``.grad`` already holds a value from an earlier step): the torch truth runs with every ``.grad``
of the traced model set to None as the traced block begins, as on a fresh copy.
``MESSAGE = {"weight": ["from before the trace", ...]}``: substrings each verdict's message or fix must
contain (compared lowercase; a tuple means "any one of these").
``CONSUMED = ["w", ...]``: an optimizer step fused into backward (``register_post_accumulate_grad_hook``)
took these gradients and set ``.grad`` to None (or zeroed it): GRADS says "none" (or "zero"), and the truth
test checks that what the hook saw agrees with EXPECT's cause (it stores the norm as ``p.consumed_norm``,
the first non-finite one of a hook that runs several times): NaN/Inf for nonfinite, zero for zero, finite
and non-zero otherwise.
``PARTIAL = ["w", ...]``: the step raised in a backward after part of these gradients arrived (a reentrant
checkpoint's own backward ran first): GRADS says what ``.grad`` holds, and EXPECT "error" may go with it.
``STEPPED = ["w", ...]``: an optimizer step used these gradients, then ``zero_grad()`` removed them (the
end of a training step): GRADS says "none", EXPECT may say "ok", and the truth test checks that the
weights moved (``run`` keeps each one's value from before the trace as ``p.initial``).
``LOSS_NONFINITE = True``: the loss is NaN/Inf although some gradients are finite; ``run`` returns a dict
holding the loss under ``"loss"``, and a ``nonfinite`` verdict may then go with a finite gradient.

This module imports no gradviz: the torch ground-truth test runs without the engine.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import re
import sys
import tokenize
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
ANY = "*"
GRAD_STATES = frozenset({"none", "zero", "nonzero", "nonfinite"})
# The cause vocabulary of design.md ("Public contract"); test_scenarios.py checks it equals gradviz.Cause.
CAUSES = frozenset(
    {
        "ok",
        "frozen",
        "unused",
        "detach",
        "data",
        "no_grad",
        "non_differentiable",
        "escaped",
        "checkpoint",
        "unregistered",
        "not_in_optimizer",
        "not_requested",
        "cleared",
        "zero",
        "nonfinite",
        "error",
        "unknown",
    }
)
# What plain torch must show for a tensor with each cause (None: any state; e.g. an unregistered tensor
# in a plain list gets a gradient, a .to() copy of a Parameter does not).
CAUSE_GRADS: dict[str, frozenset[str] | None] = {
    "ok": frozenset({"nonzero"}),
    "frozen": frozenset({"none"}),
    "unused": frozenset({"none"}),
    "detach": frozenset({"none"}),
    "data": frozenset({"none"}),
    "no_grad": frozenset({"none"}),
    "non_differentiable": frozenset({"none"}),
    "escaped": frozenset({"none"}),
    "checkpoint": frozenset({"none"}),
    "unregistered": None,
    "not_in_optimizer": frozenset({"nonzero"}),
    "not_requested": frozenset({"none"}),
    "cleared": frozenset({"none", "zero"}),  # removed, or zeros written over it
    "zero": frozenset({"zero"}),
    "nonfinite": frozenset({"nonfinite"}),
    "error": frozenset({"none"}),
    "unknown": None,
}

_MARKER = re.compile(r"^#\s*@([A-Za-z_]\w*)\b")
_PREFIX = "gradviz_scenario_"


class CorpusError(Exception):
    """A scenario file does not follow the corpus format."""


@dataclass(frozen=True)
class Expectation:
    name: str
    cause: str
    where: str | None  # "basename:line", None (must be None) or ANY
    marker: str | None  # the "@name" it came from, for messages

    def where_matches(self, where: object) -> bool:
        if self.where == ANY:
            return True
        if self.where is None:
            return where is None
        if not isinstance(where, str):
            return False
        w = where.replace("\\", "/")
        return w == self.where or w.endswith("/" + self.where)

    def describe_where(self) -> str:
        if self.where == ANY:
            return "any"
        if self.where is None:
            return "None"
        return f"{self.where} ({self.marker})"


@dataclass(frozen=True)
class Scenario:
    name: str  # file stem, used as the test id
    path: Path
    module: ModuleType
    doc: str
    raises: type[BaseException] | None
    note: tuple[tuple[str, ...], ...]  # each entry: lowercase alternatives, at least one must appear
    expect: dict[str, Expectation]
    grads: dict[str, str]
    markers: dict[str, str] = field(default_factory=dict)  # "@name" -> "basename:line"
    fresh: bool = False
    message: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    loss_nonfinite: bool = False
    consumed: frozenset[str] = frozenset()
    stepped: frozenset[str] = frozenset()
    partial: frozenset[str] = frozenset()

    def run(self, trace: Callable[..., Any]) -> Any:
        return self.module.run(trace)

    def __str__(self) -> str:
        return self.name


@dataclass
class TraceCall:
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    trace: Any

    @property
    def target(self) -> Any:
        return self.args[0] if self.args else None


class Recorder:
    """Stands in for ``gradviz.trace`` inside a scenario: calls ``factory`` and records what it returned.

    It records the object ``trace(...)`` returns (the ``with`` target), so its verdicts can be read even
    when the ``with`` block raised. It adds exactly one frame (this ``__call__``) at the ``trace(...)`` call;
    ``__enter__``/``__exit__`` run straight from the scenario's own frame.
    """

    def __init__(self, factory: Callable[..., Any]) -> None:
        self._factory = factory
        self.calls: list[TraceCall] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t = self._factory(*args, **kwargs)
        self.calls.append(TraceCall(args, kwargs, t))
        return t


def _markers(path: Path, source: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        m = _MARKER.match(tok.string)
        if not m:
            continue
        key = "@" + m.group(1)
        if key in found:
            where = f"{found[key]} and line {tok.start[0]}"
            raise CorpusError(f"{path.name}: marker {key} appears twice ({where})")
        found[key] = f"{path.name}:{tok.start[0]}"
    return found


def _resolve_where(path: Path, markers: dict[str, str], where: object) -> str | None:
    if where is None or where == ANY:
        return where  # type: ignore[return-value]
    if isinstance(where, str) and where.startswith("@"):
        if where not in markers:
            raise CorpusError(f"{path.name}: marker {where} is used but no line ends with '# {where}'")
        return markers[where]
    raise CorpusError(f"{path.name}: where must be '@marker', None or '*', not {where!r}")


def _import(path: Path) -> ModuleType:
    name = f"{_PREFIX}{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CorpusError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load(path: Path) -> Scenario:
    source = path.read_text(encoding="utf-8")
    markers = _markers(path, source)
    module = _import(path)
    for attr in ("RAISES", "NOTE", "EXPECT", "GRADS", "run"):
        if not hasattr(module, attr):
            raise CorpusError(f"{path.name}: missing {attr}")
    doc = (module.__doc__ or "").strip()
    if not doc:
        raise CorpusError(f"{path.name}: needs a docstring saying what the case is and what is true")

    raises = module.RAISES
    if raises is not None and not (isinstance(raises, type) and issubclass(raises, BaseException)):
        raise CorpusError(f"{path.name}: RAISES must be an exception type or None")

    note: list[tuple[str, ...]] = []
    for entry in module.NOTE:
        alternatives = entry if isinstance(entry, tuple) else (entry,)
        resolved = []
        for alt in alternatives:
            if not isinstance(alt, str) or not alt:
                raise CorpusError(f"{path.name}: NOTE entries are non-empty strings or tuples of them")
            if alt.startswith("@"):
                alt = _resolve_where(path, markers, alt)  # type: ignore[assignment]
            resolved.append(alt.lower())
        note.append(tuple(resolved))
    if note and raises is None:
        raise CorpusError(f"{path.name}: NOTE is only meaningful when RAISES is set")

    expect: dict[str, Expectation] = {}
    used = {alt for entry in module.NOTE for alt in (entry if isinstance(entry, tuple) else (entry,))}
    for name, value in module.EXPECT.items():
        if not (isinstance(value, tuple) and len(value) == 2):
            raise CorpusError(f"{path.name}: EXPECT[{name!r}] must be (cause, where)")
        cause, where = value
        if cause not in CAUSES:
            raise CorpusError(f"{path.name}: EXPECT[{name!r}]: unknown cause {cause!r}")
        expect[name] = Expectation(name, cause, _resolve_where(path, markers, where), where)
        used.add(where)

    unused_markers = set(markers) - used
    if unused_markers:
        raise CorpusError(f"{path.name}: markers {sorted(unused_markers)} are not used by EXPECT or NOTE")

    grads = dict(module.GRADS)
    for name, state in grads.items():
        if state not in GRAD_STATES:
            raise CorpusError(f"{path.name}: GRADS[{name!r}] must be one of {sorted(GRAD_STATES)}")
    missing = set(expect) - set(grads)
    if missing:
        raise CorpusError(f"{path.name}: GRADS lacks the torch truth of EXPECT names {sorted(missing)}")

    message: dict[str, tuple[tuple[str, ...], ...]] = {}
    for name, parts in getattr(module, "MESSAGE", {}).items():
        if name not in expect:
            raise CorpusError(f"{path.name}: MESSAGE names {name!r}, which EXPECT does not")
        message[name] = tuple(tuple(a.lower() for a in (p if isinstance(p, tuple) else (p,))) for p in parts)

    return Scenario(
        name=path.stem,
        path=path,
        module=module,
        doc=doc,
        raises=raises,
        note=tuple(note),
        expect=expect,
        grads=grads,
        markers=markers,
        fresh=bool(getattr(module, "FRESH", False)),
        message=message,
        loss_nonfinite=bool(getattr(module, "LOSS_NONFINITE", False)),
        consumed=frozenset(getattr(module, "CONSUMED", ())),
        stepped=frozenset(getattr(module, "STEPPED", ())),
        partial=frozenset(getattr(module, "PARTIAL", ())),
    )


@functools.cache
def load_all() -> list[Scenario]:
    paths = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_"))
    return [load(p) for p in paths]


# --- torch ground truth helpers -------------------------------------------------------------------------


def resolve(obj: Any, name: str) -> torch.Tensor:
    """The tensor called ``name`` in ``obj``: a dict key, a named parameter or an attribute path."""
    if isinstance(obj, Mapping):
        return obj[name]
    if isinstance(obj, nn.Module):
        params = dict(obj.named_parameters(remove_duplicate=False))
        if name in params:
            return params[name]
    cur = obj
    for part in name.split("."):
        if isinstance(cur, Mapping):
            cur = cur[part]
        elif part.isdigit() and not isinstance(cur, torch.Tensor) and hasattr(cur, "__getitem__"):
            cur = cur[int(part)]
        else:
            cur = getattr(cur, part)
    if not isinstance(cur, torch.Tensor):
        raise TypeError(f"{name!r} resolves to {type(cur).__name__}, not a tensor")
    return cur


def grad_state(t: torch.Tensor) -> str:
    """``none | zero | nonzero | nonfinite`` of ``t.grad``, read without the non-leaf access warning."""
    with warnings.catch_warnings():
        # Reading .grad of a non-leaf (a .to() copy of a Parameter) warns; the truth we want is "None".
        warnings.filterwarnings("ignore", message="The .grad attribute of a Tensor that is not a leaf")
        g = t.grad
    if g is None:
        return "none"
    g = g.detach()
    if g.is_sparse:  # a sparse gradient's state is that of its values (summed where indices repeat)
        g = g.coalesce().values()
    if not bool(torch.isfinite(g).all()):
        return "nonfinite"
    if not bool((g != 0).any()):
        return "zero"
    return "nonzero"
