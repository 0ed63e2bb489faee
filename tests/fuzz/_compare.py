"""The expected verdict of each tensor of a fuzz program, derived from plain torch, and gradviz against it.

:func:`expect` reads only the oracles (``_oracles.Truth``) and the generator's knowledge (``Program``), which
says *which* cut, planted line or ``zero_grad()`` explains what torch did; it never looks at gradviz. The
cause table is README.md's "What gradviz tells you" (with ``not_requested``), the precedence that of design.md
and the scenario corpus (fix order):

- ``requires_grad`` False -> frozen; a tensor that is not a registered parameter -> unregistered.
- The step raised (except "element 0 ... does not require grad", which a cut causes: c2 in the corpus):
  error, where = the line to blame. For "modified by an inplace operation", the write that moved the saved
  tensor past the version its backward expected (the dispatch oracle); for a forward error, the line it was
  raised from; for an inference tensor saved for backward, the ``inference_mode()`` block; for a second walk
  through a freed graph, where the carried state enters (or, within one forward, the first ``backward()``
  and the statements both losses share). A tensor also keeps its no-error reading (a gradient that arrived
  before the raise, a cut it had anyway): both are true.
- No gradient arrived: every path cut -> that cut's cause, at its line. When the paths cross several cuts,
  gradviz names one of them (the most likely mistake); any cut on the tensor's paths is accepted, each only
  at its own line. Left out of ``backward(inputs=...)`` -> not_requested at that call. No path to any loss
  (never used, or only logged) -> unused (or error, at the raising line, when the step raised: a loss that
  requires no grad at all). A loss whose backward never ran (the step raised first) -> error.
- A gradient arrived and ``.grad`` is None afterwards -> cleared, at the ``zero_grad()`` that removed it;
  except where the gradient was used first: PyTorch's optimizer-in-backward recipe (a post-accumulate-grad
  hook steps the parameter's own optimizer, then drops ``.grad``), and ``backward(); step(); zero_grad()``
  for a parameter the optimizer holds: judged by what arrived (ok, ...).
- A non-finite gradient -> nonfinite, where = the forward line of the run's first birth: a forward op that
  made NaN/Inf from finite inputs, or a backward node that made it from finite incoming gradients (then: the
  line of the forward call that created that node). When the first birth is in the forward but the loss
  stayed finite, the backward birth is accepted too (``x / 0`` gives Inf, masked later, and NaN in the same
  op's backward). A finite gradient of a tensor whose value reached a non-finite loss -> nonfinite at that
  birth (README: "or a NaN/Inf loss it helped compute").
- Zero -> zero; finite but no optimizer holds it -> not_in_optimizer; finite -> ok.

:func:`compare` then finds four kinds of disagreement: ``cause``; ``where`` (basename:line, when the cause
matches); ``birth`` (for nonfinite: the phase and op of gradviz's ``Birth`` record against the oracles');
``crash`` (gradviz raised where torch did not, or the user's exception changed). :func:`check` does it all
for one program, and adds a fifth: ``whatif``, ``Trace.without`` against the program run with the cut
removed (``_whatif.py``).
"""

from __future__ import annotations

import pathlib
import re
import sys
import traceback
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._generator import Cut, Path, Program, TensorInfo
from ._oracles import Truth, anomaly_node, load, observe
from ._whatif import whatif_disagreements

__all__ = ["KINDS", "Disagreement", "Expected", "Got", "Outcome", "check", "compare", "expect", "op_key"]

KINDS = ("cause", "where", "birth", "crash", "whatif")
_FOLDS = {"truediv": "div", "truedivide": "div", "rpow": "pow"}


def op_key(name: str) -> str:
    """One spelling per op name: ``SqrtBackward0`` and ``sqrt`` -> sqrt; ``__truediv__`` -> div."""
    key = re.sub(r"backward\d*$", "", name.lower()).replace("_", "")
    return _FOLDS.get(key, key)


@dataclass(frozen=True)
class Option:
    """One acceptable verdict: a cause and the lines it may point at (None: any)."""

    causes: frozenset[str]
    wheres: frozenset[str] | None = None

    def __str__(self) -> str:
        where = "any where" if self.wheres is None else "where " + " or ".join(sorted(self.wheres))
        return f"{'/'.join(sorted(self.causes))} ({where})"


def _option(*causes: str, wheres: frozenset[str] | None = None) -> Option:
    return Option(frozenset(causes), wheres)


@dataclass(frozen=True)
class BirthSpec:
    phase: str  # "forward" | "backward"
    names: frozenset[str]  # op_key()s

    def __str__(self) -> str:
        return f"{self.phase} {'/'.join(sorted(self.names))}"


@dataclass(frozen=True)
class Expected:
    options: tuple[Option, ...]
    basis: str  # what torch did, in words
    construct: str  # for grouping reports: "cut:detach", "nonfinite:sqrt0", "error:relu_module", ...
    births: tuple[BirthSpec, ...] = ()

    def __str__(self) -> str:
        return " | ".join(map(str, self.options))


@dataclass(frozen=True)
class Got:
    cause: str
    where: str | None
    birth: tuple[str, str, str] | None = None  # (phase, op name, graph node name)


@dataclass(frozen=True)
class Disagreement:
    program: Program
    kind: str  # cause | where | birth | crash
    param: str | None
    expected: str
    got: str
    construct: str
    basis: str = ""


@dataclass
class Outcome:
    program: Program
    truth: Truth
    expected: dict[str, Expected] = field(default_factory=dict)
    got: dict[str, Got] = field(default_factory=dict)
    gradviz_exc: str | None = None
    disagreements: list[Disagreement] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the generator and an oracle disagree: a fuzzer bug


# -- expectations --------------------------------------------------------------------------------------------


def _where(p: Program, lines: Iterable[int | None]) -> frozenset[str]:
    return frozenset(f"{p.filename}:{no}" for no in lines if no is not None)


_ERRORS = (
    ("modified by an inplace operation", "inplace"),
    ("does not require grad and does not have a grad_fn", "no_grad_root"),
    ("backward through the graph a second time", "second_walk"),
    ("leaf Variable that requires grad", "forward"),
    ("out=... arguments", "forward"),
    ("Inference tensors", "inference"),
)


def _error_kind(message: str) -> str:
    return next((kind for needle, kind in _ERRORS if needle in message), "other")


def _blame(p: Program, truth: Truth, problems: list[str]) -> tuple[frozenset[str] | None, str]:
    """The lines an error verdict may point at, and the construct that planted the error."""
    planted = [c for c in p.culprits if c.error in truth.exc_message]
    construct = planted[0].construct if planted else f"other:{truth.exc_type}"
    generator = frozenset(no for c in planted for no in c.lines)
    kind = _error_kind(truth.exc_message)
    if kind == "inplace":
        oracle = truth.inplace_lines()
        if oracle and generator and not oracle & generator:
            problems.append(
                f"in-place culprit: the dispatch oracle says {sorted(oracle)}, generator {sorted(generator)}"
            )
        lines = oracle or generator
    elif kind == "forward":
        lines = frozenset({truth.exc_line}) if truth.exc_line else generator
        if generator and lines != generator:
            problems.append(
                f"forward error raised at line {truth.exc_line}, generator planted {sorted(generator)}"
            )
    elif kind in ("inference", "second_walk"):
        lines = generator
    else:
        problems.append(f"unplanned error {truth.exc_type}: {truth.exc_message[:120]}")
        lines = frozenset()
    return (_where(p, lines) or None), construct


def _birth(p: Program, truth: Truth, *, loss_only: bool) -> tuple[Option, tuple[BirthSpec, ...], str]:
    """The nonfinite verdict: where the run's first NaN/Inf was born, by the oracles."""
    first = truth.first_birth
    fwd = truth.forward_births[0] if truth.forward_births else None
    bwd = truth.backward_births[0] if truth.backward_births else None
    planted = {op_key(n) for n in p.nan.names} if p.nan else set()
    births: list[BirthSpec] = []
    lines: set[int | None] = set()
    if fwd is not None and first is fwd:
        names = {op_key(fwd.op)} | (planted if p.nan and fwd.line == p.nan.line else set())
        births.append(BirthSpec("forward", frozenset(names)))
        lines.add(fwd.line)
    if bwd is not None and (first is bwd or not (truth.loss_nonfinite or loss_only)):
        births.append(BirthSpec("backward", frozenset({op_key(bwd.node)})))
        lines.add(bwd.line)
    construct = f"nonfinite:{p.nan.construct}" if p.nan else "nonfinite:unplanned"
    return _option("nonfinite", wheres=_where(p, lines) or None), tuple(births), construct


def _healthy(info: TensorInfo, state: str) -> Expected | None:
    """The verdict of a zero or finite gradient, all else being fine."""
    if state == "zero":
        return Expected((_option("zero"),), "torch: .grad is exactly zero", "zero")
    if state != "finite":
        return None
    if not info.in_optimizer:
        return Expected(
            (_option("not_in_optimizer"),), "torch: finite .grad, no optimizer holds it", "not_in_optimizer"
        )
    return Expected((_option("ok"),), "torch: finite, non-zero .grad", f"ok:{info.construct}")


def _arrived(p: Program, info: TensorInfo, truth: Truth, state: str) -> Expected | None:
    """The verdict of a tensor the backward(s) delivered a gradient to, as ``.grad`` shows ``state``."""
    if state == "nonfinite":
        option, births, construct = _birth(p, truth, loss_only=False)
        return Expected((option,), "torch: .grad is NaN/Inf", construct, births)
    healthy = _healthy(info, state)
    bad_losses = {i % p.losses for i, r in enumerate(truth.roots) if r != "finite"}
    reaching = [path for path in info.paths if path.loss in bad_losses]
    if not reaching:
        return healthy
    option, births, construct = _birth(p, truth, loss_only=True)
    options = [option]
    if healthy is not None and all(
        path.cuts for path in reaching
    ):  # its value reached that loss, not its grad
        options.extend(healthy.options)
    return Expected(
        tuple(options), f"torch: .grad {state}, but a loss it feeds is not finite", construct, births
    )


class _Cuts:
    """The cuts on some paths of a tensor, and the verdicts they allow (each cut at its own lines)."""

    def __init__(self, p: Program, paths: Iterable[Path]) -> None:
        cuts: set[Cut] = {c for path in paths for c in path.cuts}
        self.options = tuple(Option(c.causes, _where(p, c.lines)) for c in sorted(cuts, key=str))
        self.names = ", ".join(sorted(map(str, cuts)))
        self.construct = "cut:" + "+".join(sorted({c.construct for c in cuts}))


def _nothing_arrived(p: Program, info: TensorInfo, truth: Truth, problems: list[str]) -> Expected | None:
    """No gradient arrived. Paths to a loss whose backward never ran (the step raised first) are judged
    apart: the error is why nothing came through them."""
    ran = {i % p.losses for i in range(len(truth.roots))}
    walked = [path for path in info.paths if path.loss in ran]
    options: list[Option] = []
    basis, construct = "torch: no .grad, no path to a loss", "unused"
    if info.excluded and info.paths:
        options.append(_option("not_requested", wheres=_where(p, p.requests)))
        basis, construct = "torch: no .grad, left out of backward(inputs=...)", "not_requested"
    if walked and all(path.cuts for path in walked):
        cuts = _Cuts(p, walked)
        options.extend(cuts.options)
        if not info.excluded:
            basis, construct = f"torch: no .grad; every path cut ({cuts.names})", cuts.construct
    elif walked and not info.excluded:
        problems.append(f"{info.name}: torch gave no gradient, but the generator knows an uncut path")
        return None
    if len(walked) < len(info.paths) and truth.exc_type:
        options.append(_option("error", wheres=_where(p, [truth.exc_line]) or None))
        basis, construct = f"torch raised {truth.exc_type} before the backward of its loss", "error:unwalked"
    if not info.paths:
        options.append(_option("unused"))
        if truth.exc_type:  # e.g. a loss that requires no grad at all: the raise is true of it too
            options.append(_option("error", wheres=_where(p, [truth.exc_line]) or None))
    return Expected(tuple(options), basis, construct) if options else None


def _cleared(
    p: Program, info: TensorInfo, truth: Truth, delivered: str, problems: list[str]
) -> Expected | None:
    """A gradient arrived and ``.grad`` is None afterwards."""
    if p.consumed_in_backward:  # the parameter's own optimizer used it in the hook, then dropped it
        judged = _arrived(p, info, truth, delivered)
        if judged is None:
            return None
        basis = f"{judged.basis} (delivered, then consumed by a post-accumulate-grad hook)"
        return Expected(judged.options, basis, f"post_hook:{judged.construct}", judged.births)
    if p.variant == "zero_grad_after" and info.in_optimizer:
        # backward(); opt.step(); opt.zero_grad(): the step that holds it used the gradient before the clear
        # (the weights moved), so it is judged by what arrived; the clear is the end of a training step
        judged = _arrived(p, info, truth, delivered)
        if judged is None:
            return None
        basis = f"{judged.basis} (used by opt.step(), then removed by zero_grad())"
        return Expected(judged.options, basis, f"stepped:{judged.construct}", judged.births)
    if not p.clears:
        problems.append(
            f"{info.name}: torch delivered a gradient that is gone, and no zero_grad() is planted"
        )
        return None
    options = [_option("cleared", wheres=_where(p, p.clears))]
    after = _arrived(p, info, truth, delivered)
    if after is not None and delivered != "finite":  # a zero or non-finite gradient, then removed
        options.extend(after.options)
    return Expected(tuple(options), f"torch: delivered {delivered}, .grad None afterwards", "cleared")


def expect(p: Program, truth: Truth) -> tuple[dict[str, Expected], list[str]]:
    """The expected verdict of each tensor the generator knows, from the oracles; and any inconsistency
    between the generator and the oracles (a fuzzer bug, not a gradviz one)."""
    problems: list[str] = []
    out: dict[str, Expected] = {}
    kind = _error_kind(truth.exc_message) if truth.exc_type else None
    raised = kind is not None and kind != "no_grad_root"
    blame, culprit = _blame(p, truth, problems) if raised else (None, "")
    # after a raise, what torch left is partial: the no-error reading is offered, not checked against it
    checked = [] if raised else problems
    for name, info in p.tensors.items():
        state = truth.grads.get(name)
        if state is None:
            problems.append(f"{name}: not found on the model after the run")
            continue
        delivered = truth.delivered.get(name, "none")
        if info.frozen:
            out[name] = Expected((_option("frozen"),), "requires_grad is False", "frozen")
            continue
        if not info.registered:
            out[name] = Expected(
                (_option("unregistered"),), "not a registered parameter", f"unregistered:{info.construct}"
            )
            continue
        if state == "none" and delivered == "none":
            judged = _nothing_arrived(p, info, truth, checked)
        elif state == "none":
            judged = _cleared(p, info, truth, delivered, checked)
        else:
            judged = _arrived(p, info, truth, state)
        if raised:
            options = [_option("error", wheres=blame), *(judged.options if judged else ())]
            basis = f"torch raised {truth.exc_type}: {truth.exc_message.splitlines()[0][:90]}"
            judged = Expected(tuple(options), basis, f"error:{culprit}", judged.births if judged else ())
        if judged is not None:
            out[name] = judged
    return out, problems


# -- gradviz -------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """What the program did under ``gradviz.trace``."""

    exc: BaseException | None = None
    got: dict[str, Got] = field(default_factory=dict)
    crash: str | None = None  # gradviz gave no verdicts at all
    trace: Any = None


def _gradviz(module: Any) -> _Run:
    import gradviz

    traces: list[Any] = []

    def trace(*args: Any, **kwargs: Any) -> Any:
        traces.append(gradviz.trace(*args, **kwargs))
        return traces[-1]

    run = _Run()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module.step(trace)
        except Exception as exc:
            run.exc = exc
    if not traces:
        run.crash = "trace(...) was never reached"
        return run
    run.trace = traces[0]
    try:
        cap = traces[0].capture
        nodes = {n.id: n.name for n in cap.graph}
        targets = {t.name: t for t in cap.targets}
        loss_birth = next((r.birth for r in cap.roots if r.nonfinite and r.birth >= 0), -1)
        for name, v in traces[0].verdicts.items():
            target = targets.get(name)
            index = target.birth if target is not None and target.birth >= 0 else loss_birth
            birth = None
            if 0 <= index < len(cap.births):
                b = cap.births[index]
                birth = (b.phase, b.op_name, nodes.get(b.node or "", ""))
            run.got[name] = Got(str(v.cause.value), v.where, birth)
    except Exception as exc:
        run.crash = _short_tb(exc)
    return run


def _short_tb(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = " <- ".join(f"{pathlib.Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''} [{where}]"


def _basename(where: str | None) -> str | None:
    if where is None:
        return None
    file, _, line = where.replace("\\", "/").rpartition(":")
    return f"{file.rsplit('/', 1)[-1]}:{line}"


def _birth_matches(got: tuple[str, str, str] | None, specs: tuple[BirthSpec, ...]) -> bool:
    if not specs:
        return True
    if got is None:
        return False
    phase, op, node = got
    names = {op_key(op)} | ({op_key(node)} if node else set())
    return any(s.phase == phase and names & s.names for s in specs)


def _crash(truth: Truth, run: _Run) -> str | None:
    if run.crash is not None:
        return f"gradviz gave no verdicts: {run.crash}"
    if run.exc is None:
        return None if truth.exc_type is None else f"torch raised {truth.exc_type}, under gradviz nothing did"
    same = (
        type(run.exc).__name__ == truth.exc_type
        and str(run.exc).split("\n")[0] == truth.exc_message.split("\n")[0]
    )
    return None if same else f"under gradviz the step raised {_short_tb(run.exc)}"


def compare(p: Program, expected: dict[str, Expected], truth: Truth, run: _Run) -> list[Disagreement]:
    """Every disagreement between gradviz's run and the expected verdicts."""
    out: list[Disagreement] = []
    crash = _crash(truth, run)
    if crash is not None:
        torch_said = (
            f"{truth.exc_type}: {truth.exc_message.splitlines()[0][:100]}" if truth.exc_type else "nothing"
        )
        out.append(Disagreement(p, "crash", None, f"torch raised {torch_said}", crash, "crash"))
        if run.crash is not None:
            return out
    for name, exp in expected.items():
        got = run.got.get(name)
        if got is None:
            out.append(Disagreement(p, "cause", name, str(exp), "no verdict", exp.construct, exp.basis))
            continue
        where = _basename(got.where)
        said = f"{got.cause} (where {where})"
        fits = [o for o in exp.options if got.cause in o.causes]
        if not fits:
            out.append(Disagreement(p, "cause", name, str(exp), said, exp.construct, exp.basis))
            continue
        if not any(o.wheres is None or where in o.wheres for o in fits):
            out.append(Disagreement(p, "where", name, str(exp), said, exp.construct, exp.basis))
        if got.cause == "nonfinite" and not _birth_matches(got.birth, exp.births):
            spec = " or ".join(map(str, exp.births))
            born = (
                "no birth"
                if got.birth is None
                else f"{got.birth[0]} {got.birth[1]} (node {got.birth[2] or '-'})"
            )
            out.append(Disagreement(p, "birth", name, spec, born, exp.construct, exp.basis))
    return out


def check(p: Program, workdir: pathlib.Path, *, anomaly: bool = True) -> Outcome:
    """Write ``p`` into ``workdir``, run it under the oracles and then under gradviz, and compare.
    ``anomaly``: also ask ``detect_anomaly()`` (a third run, only when some gradient is not finite)."""
    path = workdir / p.filename
    path.write_text(p.source, encoding="utf-8")
    module = load(path, p.module_name)
    try:
        truth = observe(module, tuple(p.tensors))
        if anomaly and "nonfinite" in {*truth.grads.values(), *truth.delivered.values()}:
            truth.anomaly = anomaly_node(module)
        expected, problems = expect(p, truth)
        run = _gradviz(module)
    finally:
        sys.modules.pop(p.module_name, None)
    found = compare(p, expected, truth, run)
    if run.crash is None and run.trace is not None:
        try:
            whatif = whatif_disagreements(p, workdir, run.trace)
        except Exception as exc:
            whatif = [("without", "", "an answer", f"gradviz raised {_short_tb(exc)}")]
        found += [
            Disagreement(p, "whatif", param, want, got, construct) for construct, param, want, got in whatif
        ]
    return Outcome(
        program=p,
        truth=truth,
        expected=expected,
        got=run.got,
        gradviz_exc=_short_tb(run.exc) if run.exc is not None else None,
        disagreements=found,
        problems=problems,
    )
