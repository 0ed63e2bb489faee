"""Plain-torch truth about one run of a fuzz program: no gradviz anywhere in this module.

:func:`observe` runs ``step(trace)`` with :class:`OracleTrace`, a stand-in for ``gradviz.trace`` (like
``_NoTrace`` in tests/test_scenarios_truth.py) that watches the run with torch's own instruments:

- grad states: each diagnosed tensor's ``.grad`` after the step (none / zero / nonfinite / finite), what the
  backward(s) delivered to it (a tensor hook; ``.grad`` may be dropped afterwards), and the exception, if any,
  with the program line it was raised from.
- backward births: before each ``backward()`` / ``autograd.grad()``, a hook on every node of the graph
  (``grad_fn.next_functions`` walked from the roots). In execution order, the first node whose incoming
  gradients (``grad_outputs``) are all finite while an outgoing one (``grad_inputs``) is not is where a NaN
  or Inf was born in the backward. A ``TorchFunctionMode`` stamps each node's ``metadata`` with the program
  line of the call that made it, and with the (storage, version) of each tensor it saved.
- forward births: a ``TorchDispatchMode`` records the first aten ops whose output has a NaN while no input
  had one, or an Inf while every input, tensor or scalar, was finite (the ``-inf`` a ``masked_fill`` writes
  is given, not born; the softmax that turns a row of them into NaN is the birth).
- in-place writes: the same mode records every op that writes into an argument (``alias_info.is_write`` in
  its schema), with the version before the write. When backward raises "modified by an inplace operation",
  the node that was running (entered, never left) names the tensors it saved; the culprit is the write that
  moved one of them past the version it was saved at (:meth:`Truth.inplace_lines`).
- ``torch.autograd.detect_anomaly()``'s answer (:func:`anomaly_node`), for reference only: anomaly mode
  looks for NaN, not Inf, so it names the node *below* an Inf birth (``sqrt`` at 0: PowBackward0, not
  SqrtBackward0).
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = [
    "BackwardBirth",
    "ForwardBirth",
    "OracleTrace",
    "Truth",
    "Write",
    "anomaly_node",
    "grad_state",
    "load",
    "observe",
    "plain_run",
    "resolve",
]

_LINE = "fuzz_oracle_line"  # node.metadata key: the program line of the forward call that made the node
_HOOKED = "fuzz_oracle_hooked"
_NAME = "fuzz_oracle_name"  # node.metadata key: the node's name (read back when it raised)
_SAVED = "fuzz_oracle_saved"  # node.metadata key: (storage, version) of each tensor it saved, when made
_SAVED_ATTRS: dict[type, tuple[str, ...]] = {}  # node type -> its `_saved_*` attributes
_BACKWARDS = (torch.Tensor.backward, torch.autograd.backward, torch.autograd.grad)


@dataclass(frozen=True)
class ForwardBirth:
    op: str  # aten op name, e.g. "log", "_softmax", "mul"
    kind: str  # "nan" | "inf"
    line: int | None
    seq: int  # order among all births of the run, forward and backward


@dataclass(frozen=True)
class BackwardBirth:
    node: str  # e.g. "SqrtBackward0"
    kind: str
    line: int | None  # the program line of the forward call that made the node
    seq: int


@dataclass(frozen=True)
class Write:
    """An aten op writing into one of its arguments."""

    op: str
    line: int | None
    backward: bool  # run while a backward was executing (an optimizer hook, gradient accumulation)
    version: int  # the written tensor's version before the write (autograd bumps it above the dispatch mode)
    storage: int  # its storage's data_ptr
    shape: tuple[int, ...]
    makers: frozenset[str]  # aten ops that made (or viewed) that storage before the write
    internal: bool = False  # the storage was made inside the same torch call (a library op's temporary)

    @property
    def allocated(self) -> bool:
        """The storage was made by an allocation (``zeros``, ``empty_like``), not computed."""
        made = self.makers - _VIEWS
        return bool(made) and made <= _ALLOCATIONS


@dataclass
class Truth:
    """What plain torch did in one run."""

    grads: dict[str, str] = field(default_factory=dict)  # name -> none | zero | nonfinite | finite
    delivered: dict[str, str] = field(default_factory=dict)  # what the backward(s) delivered (none if not)
    exc_type: str | None = None
    exc_message: str = ""
    exc_line: int | None = None  # innermost program line of the traceback
    forward_births: list[ForwardBirth] = field(default_factory=list)
    backward_births: list[BackwardBirth] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)  # each loss backward() was called on: finite | nan | inf
    writes: list[Write] = field(default_factory=list)
    failed_node: str | None = None  # the backward node that raised (entered, never left)
    failed_line: int | None = None  # the forward line that made it (the op that saved the tensor)
    failed_saved: frozenset[tuple[int, int]] = frozenset()  # its saved tensors: (storage, version when saved)
    anomaly: str | None = None  # filled by the caller with anomaly_node() when it runs it

    @property
    def loss_nonfinite(self) -> bool:
        return any(r != "finite" for r in self.roots)

    @property
    def first_birth(self) -> ForwardBirth | BackwardBirth | None:
        """The earliest birth of the run (an earlier step's backward birth comes before a later forward's)."""
        firsts: list[ForwardBirth | BackwardBirth] = [*self.forward_births[:1], *self.backward_births[:1]]
        return min(firsts, key=lambda b: b.seq, default=None)

    def inplace_lines(self) -> frozenset[int]:
        """For a "modified by an inplace operation" error: the line of the write that moved a tensor the
        failing node saved past the version it was saved at. Without that node (the error came from
        elsewhere), the writes that moved a tensor past the version the message names, matched by the maker
        it names, else by shape, else any computed (not merely allocated) storage."""
        culprits = [
            w for w in self.writes if (w.storage, w.version) in self.failed_saved and w.line is not None
        ]
        if culprits:
            return frozenset(w.line for w in culprits if w.line is not None)
        m = _VERSION_ERROR.search(self.exc_message)
        if m is None:
            return frozenset()
        shape = tuple(int(d) for d in m.group("shape").split(",") if d.strip())
        maker = _norm(m.group("maker") or "")
        version = int(m.group("expected"))
        # the writes that moved a tensor past that version (not a library op's own temporaries)
        writes = [w for w in self.writes if w.version == version and w.line is not None and not w.internal]
        for keep in (
            lambda w: bool(maker) and maker in {_norm(op) for op in w.makers},
            # a storage an allocation made and this write filled (one_hot's scatter_, dropout's bernoulli_)
            # was never saved by anything: only storages some computation made
            lambda w: w.shape == shape and not w.allocated,
            lambda w: not w.allocated,
        ):
            found = [w for w in writes if keep(w)]
            if found:
                return frozenset(w.line for w in found if w.line is not None)
        return frozenset()


_VERSION_ERROR = re.compile(
    r"\[torch\.\w+ \[(?P<shape>[\d, ]*)\]\](?:, which is output \d+ of (?P<maker>\w+),)? is at version \d+; "
    r"expected version (?P<expected>\d+) instead"
)


_ALLOCATIONS = frozenset(
    {
        "empty",
        "empty_like",
        "empty_strided",
        "new_empty",
        "new_empty_strided",
        "zeros",
        "zeros_like",
        "new_zeros",
    }
    | {"ones", "ones_like", "full", "full_like", "new_full", "scalar_tensor", "arange"}
)
_VIEWS = frozenset(
    {
        "view",
        "select",
        "slice",
        "t",
        "transpose",
        "expand",
        "unsqueeze",
        "squeeze",
        "as_strided",
        "alias",
        "detach",
    }
    | {
        "permute",
        "_reshape_alias",
        "reshape",
        "unfold",
        "diagonal",
        "narrow",
        "split",
        "unsafe_split",
        "chunk",
    }
)


def _norm(name: str) -> str:
    """``SigmoidBackward0`` / ``Sigmoid`` / ``sigmoid_`` / ``_softmax`` -> ``sigmoid`` / ``softmax``."""
    return re.sub(r"backward\d*$", "", name.lower()).replace("_", "")


# -- loading and resolving -----------------------------------------------------------------------------------


def load(path: Path, name: str) -> ModuleType:
    """Import the program file at ``path`` as a fresh module called ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def resolve(model: Any, name: str) -> torch.Tensor:
    """The tensor called ``name`` in ``model``: a named parameter or an attribute path (``u3.0.weight``)."""
    if isinstance(model, nn.Module):
        params = dict(model.named_parameters(remove_duplicate=False))
        if name in params:
            return params[name]
    cur = model
    for part in name.split("."):
        cur = (
            cur[int(part)]
            if part.isdigit() and isinstance(cur, (list, tuple, nn.ModuleList))
            else getattr(cur, part)
        )
    if not isinstance(cur, torch.Tensor):
        raise TypeError(f"{name!r} is a {type(cur).__name__}, not a tensor")
    return cur


def _state(g: torch.Tensor | None) -> str:
    if g is None:
        return "none"
    g = g.detach()
    if not bool(torch.isfinite(g).all()):
        return "nonfinite"
    return "finite" if bool((g != 0).any()) else "zero"


def grad_state(t: torch.Tensor) -> str:
    """``none | zero | nonfinite | finite`` of ``t.grad``."""
    return _state(t.grad if t.is_leaf else None)


def _merge(a: str, b: str) -> str:
    """Two gradients delivered to one tensor (several backwards, or autograd.grad): the worse state."""
    order = ["none", "zero", "finite", "nonfinite"]
    return max(a, b, key=order.index)


def _flags(values: Iterator[Any]) -> tuple[bool, bool]:
    """(has NaN, has Inf) over the floating tensors and Python floats in ``values``."""
    nan = inf = False
    for v in values:
        if isinstance(v, torch.Tensor):
            if v.is_floating_point() and v.numel() and v.layout == torch.strided:
                nan = nan or bool(v.isnan().any())
                inf = inf or bool(v.isinf().any())
        elif isinstance(v, float):
            nan = nan or math.isnan(v)
            inf = inf or math.isinf(v)
    return nan, inf


# -- the instruments -----------------------------------------------------------------------------------------


class _Recorder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.truth = Truth()
        self.seq = 0  # births so far, forward and backward
        self.call = 0  # torch calls seen by the function mode so far (a dispatch op belongs to the last one)
        self.made_in: dict[int, int] = {}  # storage data_ptr -> the call that made it
        self.entered: dict[str, Any] | None = None  # metadata of the backward node running now
        self.makers: dict[int, set[str]] = {}  # storage data_ptr -> aten ops that made or viewed it

    def user_line(self) -> int | None:
        f = sys._getframe(1)
        while f is not None:
            if f.f_code.co_filename == self.path:
                return f.f_lineno
            f = f.f_back  # type: ignore[assignment]
        return None

    # TorchFunctionMode side

    def stamp(self, out: Any) -> None:
        line: int | None = -1
        for t in pytree.tree_leaves(out):
            if not isinstance(t, torch.Tensor) or t.grad_fn is None:
                continue
            stack = [t.grad_fn]
            while stack:
                node = stack.pop()
                if node is None or _LINE in node.metadata:
                    continue
                if line == -1:
                    line = self.user_line()
                node.metadata[_LINE] = line
                node.metadata[_SAVED] = _saved(node)
                node.metadata[_NAME] = node.name()
                stack.extend(n for n, _ in node.next_functions)

    def before_backward(self, roots: Any, *, loss: bool) -> None:
        """Hook every node reachable from ``roots``; record each loss's value (``loss``: a ``backward()`` the
        program called, not an ``autograd.grad()`` nor a reentrant checkpoint's inner backward)."""
        tensors = [r for r in pytree.tree_leaves(roots) if isinstance(r, torch.Tensor)]
        loss = loss and torch._C._current_autograd_node() is None
        stack = []
        for r in tensors:
            if loss:
                nan, inf = _flags(iter([r.detach()]))
                self.truth.roots.append("nan" if nan else "inf" if inf else "finite")
            stack.append(r.grad_fn)
        while stack:
            node = stack.pop()
            if node is None or _HOOKED in node.metadata:
                continue
            node.metadata[_HOOKED] = True
            stack.extend(n for n, _ in node.next_functions)
            if node.name() != "torch::autograd::AccumulateGrad":
                node.register_prehook(self._node_prehook(node.metadata))
                node.register_hook(self._node_hook(node.name(), node.metadata.get(_LINE)))

    def _node_prehook(self, meta: dict[str, Any]) -> Callable[..., None]:
        def prehook(grad_outputs: tuple[Any, ...]) -> None:
            self.entered = meta  # the node's metadata, not the node: no reference cycle through the hook

        return prehook

    def _node_hook(self, name: str, line: int | None) -> Callable[..., None]:
        def hook(grad_inputs: tuple[Any, ...], grad_outputs: tuple[Any, ...]) -> None:
            self.entered = None
            in_nan, in_inf = _flags(g for g in grad_outputs if g is not None)
            if in_nan or in_inf:
                return
            out_nan, out_inf = _flags(g for g in grad_inputs if g is not None)
            if out_nan or out_inf:
                self.seq += 1
                kind = "nan" if out_nan else "inf"
                self.truth.backward_births.append(BackwardBirth(name, kind, line, self.seq))

        return hook

    # TorchDispatchMode side

    def op(
        self,
        func: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        out: Any,
        before: tuple[bool, bool] | None,
        written: list[torch.Tensor],
    ) -> None:
        backward = torch._C._current_autograd_node() is not None
        name = func.overloadpacket.__name__
        in_storages = {
            t.untyped_storage().data_ptr()
            for t in pytree.tree_leaves((args, kwargs))
            if isinstance(t, torch.Tensor) and t.layout == torch.strided
        }
        line = None
        for t in written:
            line = line if line is not None else self.user_line()
            self.truth.writes.append(
                Write(
                    name,
                    line,
                    backward,
                    t._version,
                    t.untyped_storage().data_ptr(),
                    tuple(t.shape),
                    frozenset(self.makers.get(t.untyped_storage().data_ptr(), ())),
                    self.made_in.get(t.untyped_storage().data_ptr()) == self.call,
                )
            )
        for t in pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.layout == torch.strided:
                ptr = t.untyped_storage().data_ptr()
                if ptr in in_storages:
                    self.makers.setdefault(ptr, set()).add(name)
                else:
                    self.makers[ptr] = {name}
                    self.made_in[ptr] = self.call
        if backward or len(self.truth.forward_births) >= 4:
            return
        out_nan, out_inf = _flags(iter(pytree.tree_leaves(out)))
        if not (out_nan or out_inf):
            return
        in_nan, in_inf = before if before is not None else _flags(iter(pytree.tree_leaves((args, kwargs))))
        if out_nan and not in_nan:
            kind = "nan"
        elif out_inf and not in_nan and not in_inf:
            kind = "inf"
        else:
            return
        self.seq += 1
        line = line if line is not None else self.user_line()
        self.truth.forward_births.append(ForwardBirth(name, kind, line, self.seq))


def _saved(node: Any) -> tuple[tuple[int, int], ...]:
    """(storage, version) of each tensor ``node`` saved for its backward, read right after it was made."""
    attrs = _SAVED_ATTRS.get(type(node))
    if attrs is None:
        attrs = _SAVED_ATTRS[type(node)] = tuple(a for a in dir(node) if a.startswith("_saved_"))
    out = []
    for attr in attrs:
        try:
            value = getattr(node, attr)
        except RuntimeError:  # already freed, or already modified in place
            continue
        for t in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(t, torch.Tensor) and t.layout == torch.strided:
                out.append((t.untyped_storage().data_ptr(), t._version))
    return tuple(out)


class _Stamp(TorchFunctionMode):
    def __init__(self, rec: _Recorder) -> None:
        super().__init__()
        self.rec = rec

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        self.rec.call += 1
        if func in _BACKWARDS:
            roots = args[0] if args else kwargs.get("tensors", kwargs.get("outputs"))
            self.rec.before_backward(roots, loss=func is not torch.autograd.grad)
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        self.rec.stamp(out)
        return out


class _Ops(TorchDispatchMode):
    def __init__(self, rec: _Recorder) -> None:
        super().__init__()
        self.rec = rec

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        written = []
        for i, arg in enumerate(func._schema.arguments):
            if arg.alias_info is not None and arg.alias_info.is_write:
                t = args[i] if i < len(args) else kwargs.get(arg.name)
                if isinstance(t, torch.Tensor):
                    written.append(t)
        before = _flags(iter(pytree.tree_leaves((args, kwargs)))) if written else None
        out = func(*args, **kwargs)
        self.rec.op(func, args, kwargs, out, before, written)
        return out


class OracleTrace:
    """Stands in for ``gradviz.trace``: same call forms, no gradviz; watches the block with torch's tools."""

    names: tuple[str, ...] = ()  # the diagnosed tensors, set by observe()
    recorder: _Recorder | None = None

    def __init__(self, target: Any = None, optimizer: Any = None, **kwargs: Any) -> None:
        self.target = target
        self._handles: list[Any] = []
        self._modes: list[Any] = []

    def __enter__(self) -> OracleTrace:
        rec = type(self).recorder
        assert rec is not None
        delivered = rec.truth.delivered
        for name in type(self).names:
            try:
                t = resolve(self.target, name)
            except (AttributeError, TypeError, IndexError, KeyError):
                continue
            delivered[name] = "none"
            if t.requires_grad and t.is_leaf:
                self._handles.append(t.register_hook(_deliver(delivered, name)))
        self._modes = [_Stamp(rec), _Ops(rec)]
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> bool:
        for mode in reversed(self._modes):
            mode.__exit__(None, None, None)
        for h in self._handles:
            h.remove()
        return False


def _deliver(delivered: dict[str, str], name: str) -> Callable[[torch.Tensor], None]:
    def hook(g: torch.Tensor) -> None:
        delivered[name] = _merge(delivered[name], _state(g))

    return hook


class _Calls:
    """Records what each ``trace(...)`` call returned (the ``with`` target), like scenarios' Recorder."""

    def __init__(self, factory: Callable[..., Any]) -> None:
        self.factory = factory
        self.calls: list[tuple[tuple[Any, ...], Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t = self.factory(*args, **kwargs)
        self.calls.append((args, t))
        return t


def _exc_line(exc: BaseException, path: str) -> int | None:
    line = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def observe(module: ModuleType, names: tuple[str, ...]) -> Truth:
    """Run ``module.step`` under :class:`OracleTrace` and return what torch did to ``names``."""
    path = module.__file__ or ""
    rec = _Recorder(path)
    factory = type("_Oracle", (OracleTrace,), {"names": names, "recorder": rec})
    calls = _Calls(factory)
    model = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = module.step(calls)
        except Exception as exc:  # the program's own error is part of the truth
            rec.truth.exc_type = type(exc).__name__
            rec.truth.exc_message = str(exc)
            rec.truth.exc_line = _exc_line(exc, path)
            if rec.entered is not None:
                rec.truth.failed_node = rec.entered.get(_NAME)
                rec.truth.failed_line = rec.entered.get(_LINE)
                rec.truth.failed_saved = frozenset(rec.entered.get(_SAVED, ()))
    if model is None and calls.calls:
        model = calls.calls[0][0][0] if calls.calls[0][0] else None
    for name in names:
        try:
            rec.truth.grads[name] = grad_state(resolve(model, name))
        except (AttributeError, TypeError, IndexError, KeyError):
            continue
    return rec.truth


class _Plain:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> _Plain:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False


def anomaly_node(module: ModuleType) -> str | None:
    """The node ``torch.autograd.detect_anomaly()`` names ("Function 'X' returned nan values"), if any."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.autograd.detect_anomaly():
                module.step(_Plain)
        except RuntimeError as exc:
            m = re.search(r"Function '(\w+)' returned nan values", str(exc))
            return m.group(1) if m else None
    return None


def plain_run(module: ModuleType, names: tuple[str, ...]) -> tuple[dict[str, str], str | None]:
    """Grad states and exception type of a run with no instruments at all (to check the instruments)."""
    calls = _Calls(_Plain)
    model, exc_type = None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = module.step(calls)
        except Exception as exc:
            exc_type = type(exc).__name__
    if model is None and calls.calls:
        model = calls.calls[0][0][0]
    grads = {}
    for name in names:
        try:
            grads[name] = grad_state(resolve(model, name))
        except (AttributeError, TypeError, IndexError, KeyError):
            continue
    return grads, exc_type
