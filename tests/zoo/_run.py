"""Run one zoo case: the truth on plain deep copies, the same step under ``gradviz.trace``, every view, and
three steps under ``gradviz.watch``; collect every disagreement and every exception.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import re
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import gradviz

from ._case import Case, Rig
from ._compare import Finding, compare_ddp, compare_ddp_watch, compare_verdicts, compare_watch, describe
from ._truth import Truth, grad_differences, grad_state, same_bits, weight_differences

TRACED_SEED = 1  # dropout and any other randomness of the traced step (the same in the plain copy)
WATCH_STEPS = 3


class CaseError(AssertionError):
    """The case does not show what it claims in plain torch: fix the case, not gradviz."""


@dataclass
class Outcome:
    name: str
    truth: Truth | None = None
    findings: list[Finding] = field(default_factory=list)
    crashes: list[tuple[str, str]] = field(default_factory=list)  # (phase, traceback summary)
    changed: list[str] = field(default_factory=list)  # numerics changed by tracing / watching
    report: str = ""

    @property
    def false_alarms(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "false_alarm"]

    @property
    def misses(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "miss"]

    @property
    def wrong_causes(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "wrong_cause"]

    @property
    def wrong_norms(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "wrong_norm"]

    @property
    def library_wheres(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "library_where"]

    @property
    def clean(self) -> bool:
        return not (self.findings or self.crashes or self.changed)

    def text(self) -> str:
        """Findings grouped by what was said (kind, check, torch's truth, gradviz's verdict), names listed."""
        lines = [
            f"{self.name}: {len(self.false_alarms)} false alarms, {len(self.misses)} misses, "
            f"{len(self.crashes)} crashes, {len(self.wrong_causes)} wrong causes, "
            f"{len(self.wrong_norms)} wrong norms, {len(self.library_wheres)} library wheres"
        ]
        groups: dict[tuple[str, str, str, str], list[Finding]] = {}
        for f in self.findings:
            if f.kind == "wrong_norm":  # one group per check, each name with torch's norm and gradviz's
                key = (f.kind, f.check, "float64 norm", "a norm further off")
                f = Finding(f.kind, f.check, f"{f.name} ({f.truth} vs {f.got})", f.truth, key[3])
            else:  # the cause and where, without the message that names the parameter
                key = (f.kind, f.check, f.truth, f.got.split(" '")[0])
            groups.setdefault(key, []).append(f)
        for (kind, check, truth, said), found in groups.items():
            names = [f.name for f in found]
            shown = ", ".join(names[:6]) + (f" (+{len(names) - 6} more)" if len(names) > 6 else "")
            lines.append(f"  {kind} x{len(found)} [{check}] torch: {truth}; gradviz: {said}")
            lines.append(f"      {shown}")
            if found[0].got != said:
                lines.append(f"      e.g. {found[0].got}")
        lines += [f"  crash in {phase}: {tb}" for phase, tb in self.crashes]
        if self.changed:
            lines.append(f"  changed by gradviz ({len(self.changed)}): " + "; ".join(self.changed[:4]))
        return "\n".join(lines)


@contextlib.contextmanager
def _library_warnings(case: Case) -> Iterator[None]:
    with warnings.catch_warnings():
        for pattern in case.ignore_warnings:
            warnings.filterwarnings("ignore", message=pattern)
        yield


def seed_all(seed: int) -> None:
    """torch, numpy and random: wav2vec2's time masks draw from numpy."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def clone_rig(rig: Rig) -> Rig:
    """A deep copy that also keeps ``.grad`` (``Parameter.__deepcopy__`` drops it)."""
    twin = copy.deepcopy(rig)
    for p, q in zip(rig.model.parameters(), twin.model.parameters(), strict=True):
        q.grad = None if p.grad is None else p.grad.clone()
    return twin


def _crash_text(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/gradviz/" in f.filename] or frames
    tail = ", ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in ours[-4:])
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} [{tail}]"


def prepare(case: Case) -> tuple[Rig, object]:
    """Build the model (seed 0), run the session before the traced step, return the rig and the batch."""
    with _library_warnings(case):
        seed_all(0)
        model = case.build()
        model.train()
        rig = case.make_rig(model)
        for i in range(case.warmup_steps):
            rig.optimizer.zero_grad()
            seed_all(100 + i)
            batch = case.batch(model)
            seed_all(200 + i)
            case.backward(rig, batch, case.warmup_loss)
            case.update(rig)
    if case.then is not None:
        case.then(model)
    if case.session == "zeros":
        rig.optimizer.zero_grad(set_to_none=False)
    elif case.session == "fresh":
        rig.optimizer.zero_grad()
        assert all(p.grad is None for p in model.parameters()), "a fresh step starts without .grad"
    seed_all(0)
    return rig, case.batch(model)


def plain_truth(case: Case, rig: Rig, batch: object) -> tuple[Rig, Truth, torch.Tensor]:
    """Plain torch on deep copies: the copy to compare bits with, and what this backward delivered."""
    twin = clone_rig(rig)
    before = {n: grad_state(p.grad) for n, p in rig.model.named_parameters()}
    stale = any(s != "none" for s in before.values())
    # .grad left from earlier steps: a second copy starts from None to show what this backward delivers
    delivered = clone_rig(rig) if stale else twin
    with _library_warnings(case):
        seed_all(TRACED_SEED)
        loss = case.backward(twin, batch)
        if stale:
            for p in delivered.model.parameters():
                p.grad = None
            seed_all(TRACED_SEED)
            case.backward(delivered, batch)
    truth = Truth.read(delivered.model, delivered.optimizer)
    truth.before = before if stale else None
    return twin, truth, loss


def check_shows(case: Case, truth: Truth) -> None:
    for state, part in case.shows:
        names = [n for n in truth.state if part in n or re.search(part, n)]
        if state == "stale-none":
            if not any(truth.stale(n) for n in names):
                raise CaseError(
                    f"{case.name}: no {part!r} parameter keeps an old .grad while this step gives it none"
                )
        elif state == "all-finite":
            bad = {n: truth.state[n] for n in names if truth.requires_grad[n] and truth.state[n] != "finite"}
            if not names or bad:
                raise CaseError(f"{case.name}: plain torch does not give every {part!r} a gradient: {bad}")
        elif not any(truth.state[n] == state for n in names):
            raise CaseError(
                f"{case.name}: plain torch shows no {state!r} gradient among {part!r} "
                f"({ {n: truth.state[n] for n in names[:8]} }); the case no longer shows what it claims"
            )


def _extra_verdicts(rig: Rig, verdicts: dict, truth: Truth) -> list[Finding]:
    """Verdicts for names that are not parameters: each must be a real tensor that requires grad."""
    found = []
    for name, v in verdicts.items():
        if name in truth.state or v.ok:
            continue
        obj: object = rig.model
        for part in name.split("."):
            obj = getattr(obj, part, None) if not part.isdigit() else _index(obj, int(part))
        legit = (
            isinstance(obj, torch.Tensor) and obj.requires_grad and not isinstance(obj, torch.nn.Parameter)
        )
        if not legit:
            found.append(
                Finding("false_alarm", "extra verdict", name, "no such tensor requiring grad", describe(v))
            )
    return found


def _index(obj: object, i: int) -> object:
    try:
        return obj[i]  # type: ignore[index]
    except Exception:
        return getattr(obj, str(i), None)


def run_case(case: Case, tmp_path: Path) -> Outcome:
    out = Outcome(case.name)
    rig, batch = prepare(case)
    twin, truth, plain_loss = plain_truth(case, rig, batch)
    out.truth = truth
    check_shows(case, truth)

    # -- the traced step, on the original ----------------------------------------------------------------
    try:
        with _library_warnings(case):
            seed_all(TRACED_SEED)
            with gradviz.trace(rig.model, optimizer=rig.optimizer) as t:
                loss = case.backward(rig, batch)
    except Exception as exc:
        out.crashes.append(("trace", _crash_text(exc)))
        return out
    if not same_bits(loss, plain_loss):
        out.changed.append(f"loss {loss.item()!r} traced vs {plain_loss.item()!r} plain")
    out.changed += [
        f"{n}.grad differs bitwise from plain torch" for n in grad_differences(twin.model, rig.model)
    ]
    try:
        verdicts = t.verdicts
        # With .grad left from earlier steps grad_norm is the norm of the sum (what .grad holds): not checked.
        out.findings += compare_verdicts(truth, verdicts, case.causes, check_norms=truth.before is None)
        out.findings += _extra_verdicts(rig, verdicts, truth)
    except Exception as exc:
        out.crashes.append(("verdicts", _crash_text(exc)))
        return out

    # -- every view of the trace -------------------------------------------------------------------------
    def view(phase: str, fn) -> object:
        try:
            return fn()
        except Exception as exc:
            out.crashes.append((phase, _crash_text(exc)))
            return None

    out.report = view("report", t.report) or ""
    # gradviz.diagnose on the plain copy's loss, after its backward: the graph alone, no forward record.
    diagnosed = view("diagnose", lambda: gradviz.diagnose(plain_loss, twin.model, twin.optimizer).verdicts)
    if diagnosed is not None:
        out.findings += compare_verdicts(truth, diagnosed, check_norms=truth.before is None, check="diagnose")
    view("widget state", lambda: json.dumps(_jsonable(t.widget().get_state())))
    view("save_html", lambda: t.save_html(tmp_path / f"{case.name}.html"))
    view("to_dot", t.to_dot)
    ddp = view("ddp_check", lambda: gradviz.ddp_check(t))
    if ddp is not None:
        view("ddp_check report", ddp.report)
        out.findings += compare_ddp(truth, ddp.rejected)

    # -- three steps under gradviz.watch, against the same three steps on the plain copy --------------------
    view("watch", lambda: _watch(case, rig, twin, batch, out))
    return out


def _watch(case: Case, rig: Rig, twin: Rig, batch: object, out: Outcome) -> None:
    """``twin`` ran the traced step in plain torch (same weights, same .grad): both go on for three steps."""
    seen: list[Truth] = []
    handle = twin.optimizer.register_step_pre_hook(
        lambda *_: seen.append(Truth.read(twin.model, twin.optimizer))
    )
    with _library_warnings(case):
        for i in range(WATCH_STEPS):
            twin.optimizer.zero_grad()
            seed_all(400 + i)
            case.backward(twin, batch)
            case.update(twin)
    handle.remove()
    with _library_warnings(case), gradviz.watch(rig.model, optimizer=rig.optimizer) as mon:
        for i in range(WATCH_STEPS):
            rig.optimizer.zero_grad()
            seed_all(400 + i)
            case.backward(rig, batch)
            case.update(rig)
        json.dumps(_jsonable(mon.widget().get_state()))
        ddp = gradviz.ddp_check(mon)
        ddp.report()
    out.findings += compare_ddp_watch(seen, ddp.sometimes, ddp.never)
    history = mon.history
    states = [[gradviz.GradState(s).name for s in row] for row in history.state]
    norms = history.grad_norm.astype(float).tolist()
    out.findings += compare_watch(seen, list(history.names), states, norms)
    out.changed += [
        f"{n} after {WATCH_STEPS} watched steps differs bitwise from plain torch"
        for n in weight_differences(twin.model, rig.model)
    ]


def _jsonable(state: dict) -> dict:
    """Widget state with its binary buffers replaced by their sizes (the rest must be plain JSON)."""
    return {k: (len(v) if isinstance(v, (bytes, bytearray, memoryview)) else v) for k, v in state.items()}
