"""``gradviz.trace``: watch a forward and backward; say why each parameter's gradient is what it is."""

from __future__ import annotations

import copy
import os
import pathlib
import sys
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Literal

import torch
from torch import nn

from gradviz import view
from gradviz._args import check_flag, check_optimizer
from gradviz.capture import CutKey, FailSafe, Session, cut_key, from_mapping, from_model, unwrap
from gradviz.records import Capture, Cause, Cut, Verdict, WhatIf
from gradviz.verdicts import decide, note_for, removable, without


class Trace:
    """The result of :func:`trace`: verdicts, a text report, and the interactive widget.

    Use it as a context manager around the forward and backward you want diagnosed::

        with gradviz.trace(model, optimizer=opt) as t:
            loss = loss_fn(model(x), y)
            loss.backward()
        t                              # in a notebook: the graph, problems in red
        print(t.report())              # plain text
        t.verdicts["enc.weight"]       # Verdict(name, cause, where, message, fix, grad_norm)
    """

    def __init__(
        self,
        model: nn.Module | Mapping[str, torch.Tensor] | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        node_norms: bool = True,
    ) -> None:
        if model is not None and not isinstance(model, (nn.Module, Mapping)):
            raise TypeError(
                f"gradviz.trace takes an nn.Module, a dict of name -> tensor, or nothing; got "
                f"{type(model).__name__}. To diagnose a finished loss use gradviz.diagnose(loss, model)."
            )
        check_optimizer("gradviz.trace", optimizer)
        check_flag("gradviz.trace", "node_norms", node_norms)
        if isinstance(model, Mapping):
            from_mapping(model)  # a TypeError naming a bad entry comes now, from the call that passed it
        if (
            isinstance(model, nn.Module)
            and not any(True for _ in model.parameters())
            and not from_model(unwrap(model))
        ):
            raise ValueError(
                f"gradviz.trace: {type(model).__name__} has no parameters and no tensors that require "
                "grad, so there is nothing to diagnose. Did you build its layers yet?"
            )
        self._model, self._optimizer, self._node_norms = model, optimizer, node_norms
        self._removing: CutKey | None = None  # a what-if re-run: the cut group run as identities
        # (model, step(model)) that runs the traced step again (set by %%gradviz): without(confirm=True)
        self._rerun: tuple[nn.Module, Callable[[nn.Module], Any]] | None = None
        self._removed = 0  # how many cuts of that group it ran as identities
        self._session: Session | None = None
        self._capture: Capture | None = None
        self._verdicts: dict[str, Verdict] | None = None
        self._widget: Any = None

    @classmethod
    def _from_capture(cls, capture: Capture) -> Trace:
        t = cls.__new__(cls)
        t._model = t._optimizer = t._session = t._widget = t._removing = t._rerun = None
        t._removed = 0
        t._node_norms = False
        t._capture, t._verdicts = capture, decide(capture)
        return t

    # -- context manager -------------------------------------------------------------------------------

    def __enter__(self) -> Trace:
        if self._session is not None or self._capture is not None:
            raise RuntimeError("this gradviz.trace was already used; start a new one with gradviz.trace(...)")
        try:
            session = Session(self._model, self._optimizer, node_norms=self._node_norms)
            session.tracer.shadows.removing = self._removing
            session.start()  # removes what it registered if it fails
        except Exception as internal:  # NOTE [fail-safe]: the user's step runs, untraced
            failsafe = FailSafe()
            failsafe.fail(internal, "start of the trace")
            self._capture = Capture(failure=failsafe.describe())
            self._verdicts = {}
            return self
        self._session = session
        self._model = self._optimizer = None  # the session owns them until it stops
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        session, self._session = self._session, None
        if session is None:
            return False
        self._removed = session.tracer.shadows.removed
        self._capture = session.stop(exc)  # never raises gradviz's own errors (NOTE [fail-safe])
        self._verdicts = decide_safely(self._capture)
        if exc is not None and isinstance(exc, Exception):
            try:
                note = note_for(self._capture)
            except Exception as internal:  # the user's exception goes on unchanged
                FailSafe().fail(internal, "exception note")
                note = None
            if note is not None:
                if sys.version_info >= (3, 11):
                    exc.add_note(note)
                else:  # no add_note before 3.11: the note goes where it would (3.10's tracebacks omit it)
                    vars(exc).setdefault("__notes__", []).append(note)
        return False

    # -- results ---------------------------------------------------------------------------------------

    @property
    def verdicts(self) -> dict[str, Verdict]:
        """Verdict per parameter name (and per unregistered tensor's attribute path)."""
        if self._verdicts is None:
            raise RuntimeError("the trace is still running: read verdicts after the `with` block ends")
        return self._verdicts

    @property
    def capture(self) -> Capture:
        """Everything recorded, as plain data (no torch objects)."""
        if self._capture is None:
            raise RuntimeError("the trace is still running: read it after the `with` block ends")
        return self._capture

    @property
    def problems(self) -> dict[str, Verdict]:
        """The verdicts that are not ``ok``."""
        return {k: v for k, v in self.verdicts.items() if not v.ok}

    def report(self) -> str:
        """A plain-text table: parameter, gradient, cause, where; then each problem's explanation and fix."""
        return view.report(self.capture, self.verdicts)

    def __repr__(self) -> str:
        if self._verdicts is None:
            return "<gradviz.Trace (running)>" if self._session else "<gradviz.Trace (not started)>"
        return f"<gradviz.Trace {view.summary_line(self.capture, self.verdicts)}>"

    # -- views -----------------------------------------------------------------------------------------

    def widget(self, scale: float | None = None):
        """The interactive graph widget (built once, then reused). ``scale`` draws it larger for a
        projector (1 to 2, e.g. 1.5); by default, the size last chosen in this browser's toolbar."""
        if scale is not None:
            scale = view.check_scale(scale)  # before building anything: a wrong value says so at once
        if self._widget is None:
            self._widget = view.graph_widget(
                *view.build_state(self.capture, self.verdicts, self._whatifs()), scale=scale or 0.0
            )
        elif scale is not None:
            self._widget.scale = scale
        return self._widget

    def _repr_mimebundle_(self, include=None, exclude=None):
        try:
            bundle = self.widget()._repr_mimebundle_(include=include, exclude=exclude)
            text = self.report()
        except Exception as internal:  # NOTE [fail-safe]: a cell that displays a trace never fails
            FailSafe().fail(internal, "view")
            return {"text/plain": _plain_listing(self)}
        if isinstance(bundle, tuple):  # (data, metadata)
            data, meta = bundle
            return {**data, "text/plain": text}, meta
        return {**(bundle or {}), "text/plain": text}

    def to_dict(self) -> dict[str, Any]:
        """The verdicts as plain data, in the documented, versioned schema of ``gradviz/view/_export.py``
        (``{"schema": "gradviz-verdicts", "version": 1, "tensors": [...], "births": [...], ...}``)."""
        return view.verdicts_dict(self.capture, self.verdicts)

    def to_json(self, indent: int | None = None) -> str:
        """:meth:`to_dict` as strict JSON (a NaN norm is the string "nan")."""
        return view.verdicts_json(self.capture, self.verdicts, indent=indent)

    def assert_learns(self, allow: Any = None) -> Trace:
        """Raise ``gradviz.NotLearningError`` (an AssertionError) if a parameter will not learn, with the
        cause, line and fix of each; return the trace otherwise. Passing: ok, frozen, not_requested;
        ``allow`` lets more through: names or glob patterns, or ``{pattern: cause(s)}``."""
        failed = view.learning_failures(self.verdicts, allow)
        if failed:
            raise NotLearningError(view.failure_text(self.capture, self.verdicts, failed), failed, self)
        return self

    def without(
        self,
        cut: int | Cut | Verdict | str,
        *,
        model: nn.Module | None = None,
        step: Callable[[nn.Module], Any] | None = None,
        confirm: bool = False,
    ) -> WhatIf:
        """What would be reached were ``cut`` an identity, read from the recorded lineage with no re-run:
        which parameters that cut alone keeps from the loss (``.reached``), and which would still not be
        reached and why (``.still``: another cut, no path to the loss). The cut removed is every cut of
        the same cause at the same line (one edit of the code: a ``.detach()`` in a loop, one ``with
        torch.no_grad():``). ``cut``: an index into ``capture.cuts``, a ``Cut``, or a parameter's name or
        Verdict (the cut at its verdict's line). "Reached" means a gradient would arrive: it can still be
        exactly zero.

        To confirm it, pass ``model`` and ``step`` (``step(model)`` runs the forward and backward): the
        step runs again, traced, on a deep copy of ``model`` as it is now, with that cut run as an identity
        (the detach or ``.data`` gives its input back, the ``no_grad`` leaves gradients on); the result's
        ``.confirmed`` holds that run's verdicts and ``.agrees`` whether it reached what was said. Your
        model, its gradients and the random state are left as they were. A cell traced with ``%%gradviz``
        needs neither: ``confirm=True`` runs the cell again on copies of its model and optimizer."""
        what = without(self.capture, self._cut_index(cut))
        if confirm and model is None and step is None:
            if self._rerun is None:
                raise ValueError(
                    "this trace has no step to run again: pass model= and step= (step(model) runs the "
                    "forward and backward), or trace the cell with %%gradviz."
                )
            model, step = self._rerun
        if model is None and step is None:
            return what
        if not isinstance(model, nn.Module) or not callable(step):
            raise TypeError("to confirm by a re-run, pass model= (the nn.Module) and step= (step(model)).")
        return rerun_without(what, self.capture.cuts[what.group], model, step)

    def _whatifs(self) -> dict[int, WhatIf | str]:
        """Per cut: what removing it would reach, or why it cannot be removed (for the cut markers)."""
        found: dict[int, WhatIf | str] = {}
        for c in self.capture.cuts:
            why = removable(c)
            try:
                found[c.index] = why or without(self.capture, c.index)
            except Exception as internal:  # NOTE [fail-safe]: a marker without its what-if, said once
                FailSafe().fail(internal, "what-if of a cut")
                break
        return found

    def _cut_index(self, cut: int | Cut | Verdict | str) -> int:
        cuts = self.capture.cuts
        if isinstance(cut, Cut):
            return cut.index
        if isinstance(cut, bool) or not isinstance(cut, (int, str, Verdict)):
            raise TypeError(
                f"without() takes a cut index, a Cut, a parameter name or a Verdict, not {cut!r}."
            )
        if isinstance(cut, int):
            return cut
        verdict = cut if isinstance(cut, Verdict) else self.verdicts.get(cut)
        if verdict is None:
            raise ValueError(f"no parameter named {cut!r} in this trace.")
        bit = next((t.bit for t in self.capture.targets if t.name == verdict.name), 0)
        mine = [c for c in cuts if c.lost & bit and not c.retracted]
        at_line = [c for c in mine if c.site is not None and c.site.where == verdict.where]
        if not (at_line or mine):
            raise ValueError(f"{verdict.name} is not behind a cut (its verdict: {verdict.cause.value}).")
        return (at_line or mine)[0].index

    def to_dot(self) -> str:
        """Graphviz DOT source of the graph (render it with the `graphviz` package if `dot` is installed)."""
        graph, edge_norms, _ = view.build_state(self.capture, self.verdicts)
        return view.to_dot(graph, edge_norms)

    def save_html(
        self, path: str | os.PathLike[str] | None = None, *, scale: float | None = None
    ) -> pathlib.Path:
        """Write one standalone HTML file with the graph and inspector; it opens offline, with no kernel.

        With no ``path``, writes ``gradviz-<model>-<YYYYmmdd-HHMMSS>.html`` in the working directory.
        ``scale`` opens it drawn larger (1 to 2, e.g. 1.5 for a projector). Returns the path written.
        """
        size = view.check_scale(scale) if scale is not None else 0.0
        graph, edge_norms, hists = view.build_state(self.capture, self.verdicts, self._whatifs())
        if path is None:
            path = view.default_path(self.capture.model_name or "trace")
        return view.write_html(path, graph, edge_norms, hists, title=graph["title"], scale=size)


class NotLearningError(AssertionError):
    """Some parameters will not learn (or learn from NaN/zero gradients). ``failures`` holds their verdicts,
    ``trace`` the whole trace (``trace.report()``, ``trace.widget()``); the message is the report of the
    failures: cause, line and fix, one paragraph per problem."""

    def __init__(self, message: str, failures: list[Verdict], trace: Trace) -> None:
        super().__init__(message)
        self.failures = failures
        self.trace = trace


def trace(
    model: nn.Module | Mapping[str, torch.Tensor] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    node_norms: bool = True,
) -> Trace:
    """Diagnose the gradients of ``model`` over the forward and backward run inside the ``with`` block.

    ``model`` is an ``nn.Module`` (its named parameters, plus tensors that require grad but are not
    registered), a dict of name -> tensor, or None (the leaves requiring grad that the forward uses).
    ``optimizer``, when given, is checked for parameters it does not hold. ``node_norms`` records the
    gradient norm reaching every autograd node (about 10-20 µs per node per backward).

    >>> import torch, gradviz
    >>> lin = torch.nn.Linear(2, 1)
    >>> _ = lin.bias.requires_grad_(False)
    >>> with gradviz.trace(lin) as t:
    ...     lin(torch.ones(1, 2)).sum().backward()
    >>> t.verdicts["weight"].cause, t.verdicts["bias"].cause
    (<Cause.ok: 'ok'>, <Cause.frozen: 'frozen'>)
    """
    return Trace(model, optimizer, node_norms=node_norms)


def rerun_without(what: WhatIf, cut: Cut, model: nn.Module, step: Callable[[nn.Module], Any]) -> WhatIf:
    """``what``, confirmed by running ``step`` traced on a deep copy of ``model`` with ``cut``'s group run
    as identities (Trace.without). The user's model, gradients and random state are left alone."""
    copied = copy.deepcopy(model)
    for p in copied.parameters():
        p.grad = None
    rerun = Trace(copied)
    rerun._removing = cut_key(cut)
    with torch.random.fork_rng(devices=[]), rerun:
        step(copied)
    if not rerun._removed:
        what.rerun_note = (
            "A re-run could not run it as an identity (gradviz removes a .detach(), a .data, a new tensor "
            "made from tensors and a no_grad switch), so nothing is confirmed."
        )
        return what
    what.confirmed = dict(rerun.verdicts)
    requested = {t.name for t in rerun.capture.targets if t.reached and t.not_requested is None}
    what.confirmed_reached = [name for name in what.lost if name in requested]
    return what


def decide_safely(capture: Capture) -> dict[str, Verdict]:
    """The verdicts; if the rules themselves fail, each says so and what is known (NOTE [fail-safe])."""
    try:
        return decide(capture)
    except Exception as internal:
        failsafe = FailSafe()
        failsafe.fail(internal, "verdict rules")
        capture.failure = capture.failure or failsafe.describe()
    try:
        return decide(capture)  # with a failure recorded, every verdict says only what is known
    except Exception:
        return {
            t.name: Verdict(
                t.name,
                Cause.unknown,
                None,
                f"gradviz could not decide for {t.name}: {capture.failure}.",
                "Check this parameter's .grad by hand, and please report the error.",
                t.grad_norm,
            )
            for t in capture.targets
            if t.kind != "replaced"
        }


def _plain_listing(t: Trace) -> str:
    """The verdicts as bare lines, for when the view itself failed."""
    try:
        return "\n".join(
            f"{name}: {v.cause.value} {v.where or ''}".rstrip() for name, v in t.verdicts.items()
        )
    except Exception:
        return "<gradviz.Trace: gradviz could not show this trace; see the warning>"
