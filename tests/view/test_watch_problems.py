"""The watch run's problems in words (``gradviz/view/_watch_problems.py``), and the same lines from the
widget's banner (``js/src/watch/problems.js``): real runs (the training demos, a 12-layer GPT that goes
NaN, a run with every kind of missing gradient) and hand-made histories go through ``build_watch_state``
and cross to Node as the widget gets them; every line, its parameters and its row must be Python's.

Truth from plain torch: the runs are replayed on fresh seeded copies with no gradviz, and the first step
each ``.grad`` went NaN/Inf, zero or None is read there.

Skipped without Node, except under CI=true (as tests/js/test_wire_parity.py).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import gradviz
from gradviz._demos.gpt import TinyGPT
from gradviz._demos.training import Run, dead_relu_run, nan_run
from gradviz.records import GradState, History
from gradviz.view._watch_problems import explosions, problem_lines
from gradviz.view._watch_state import build_watch_state
from gradviz.view._watch_summary import frozen_columns

JS = pathlib.Path(__file__).resolve().parents[2] / "js" / "src" / "watch"
BYTES = {
    "steps",
    "grad_norm",
    "param_norm",
    "update_ratio",
    "state",
    "edge_norms",
    "hists",
    "replay_edge_norms",
    "replay_hists",
    "headroom",
}
NONE, ZERO, FINITE, NONFINITE = (
    int(s) for s in (GradState.none, GradState.zero, GradState.finite, GradState.nonfinite)
)

# Decodes each state as the widget does (bytes traits as DataViews) and writes its banner lines.
SCRIPT = """
import { readFileSync } from "node:fs";
import { readWatch } from "%(js)s/data.js";
import { problems } from "%(js)s/problems.js";
const BYTES = new Set(%(bytes)s);
const view = (b64) => {
  const b = Buffer.from(b64, "base64");
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
};
const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = {};
for (const [name, traits] of Object.entries(cases)) {
  const values = Object.fromEntries(Object.entries(traits).map(([k, v]) => [k, BYTES.has(k) ? view(v) : v]));
  const data = readWatch({ get: (k) => values[k] });
  const t = data.timeline;
  out[name] = problems(data, { vanish: t.vanish, explode: t.explode });
}
process.stdout.write(JSON.stringify(out));
"""


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is not installed, and CI must check that Python and the front end agree")
        pytest.skip("node is not installed: the parity checks run the front end's code in Node 20+")
    return node


def banner(states: dict[str, dict], tmp_path: pathlib.Path) -> dict[str, list[dict]]:
    """{case: the widget's problem lines} for watch states built by Python."""
    wire = {
        name: {k: base64.b64encode(v).decode() if k in BYTES else v for k, v in state.items()}
        for name, state in states.items()
    }
    (tmp_path / "cases.json").write_text(json.dumps(wire, allow_nan=False))
    script = tmp_path / "banner.mjs"
    script.write_text(SCRIPT % {"js": JS.as_posix(), "bytes": json.dumps(sorted(BYTES))})
    done = subprocess.run(
        [_node(), str(script), str(tmp_path / "cases.json")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def python_lines(history: History, graph: dict | None, explode: float = 10.0) -> list[dict]:
    frozen = frozen_columns(history.names, graph)
    return [
        {"kind": p.kind, "title": p.title, "text": p.text, "columns": p.columns, "row": p.row}
        for p in problem_lines(history, frozen, explode=explode)
    ]


# -- runs ----------------------------------------------------------------------------------------------


def one_thread(fn):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


@functools.cache
def demo(name: str):
    return one_thread(getattr(gradviz.demos, name))


def replay_states(run: Run) -> np.ndarray:
    """The state of every .grad at every optimizer step of ``run``, trained in plain torch."""

    def go():
        out = []
        for _ in range(run.steps):
            loss = run.loss_fn(run.model(run.X), run.Y)
            run.optimizer.zero_grad()
            loss.backward()
            out.append([state_of(p) for p in run.model.parameters()])
            run.optimizer.step()
        return np.array(out)

    return one_thread(go)


def state_of(p: torch.Tensor) -> int:
    if p.grad is None:
        return NONE
    if not torch.isfinite(p.grad).all():
        return NONFINITE
    return ZERO if bool((p.grad == 0).all()) else FINITE


def gpt_nan_first() -> tuple[gradviz.Monitor, np.ndarray]:
    """A 12-layer GPT: from step 20 a hand-written L2 distance to the weights of step 20
    (``sqrt(sum(d**2))``, NaN gradient at d = 0) on tok.weight alone; AdamW spreads the NaN to every
    weight, so every other gradient is NaN from step 21."""

    def make():
        torch.manual_seed(0)
        model = TinyGPT(vocab=16, d=16, n_head=2, n_layer=12, block_size=8, use_reentrant=False)
        return model, torch.optim.AdamW(model.parameters(), lr=3e-3)

    def train(model, opt, on_step=None):
        torch.manual_seed(1)
        anchor = None
        for step in range(24):
            idx = torch.randint(0, 16, (4, 8))
            loss = F.cross_entropy(model(idx).flatten(0, 1), idx.flatten())
            if step >= 20:
                anchor = model.tok.weight.detach().clone() if anchor is None else anchor
                loss = loss + 1e-3 * (model.tok.weight - anchor).pow(2).sum().sqrt()
            opt.zero_grad()
            loss.backward()
            if on_step:
                on_step(model)
            opt.step()

    def go():
        model, opt = make()
        with gradviz.watch(model, optimizer=opt) as mon:
            train(model, opt)
        plain, plain_opt = make()
        truth: list[list[int]] = []
        train(plain, plain_opt, lambda m: truth.append([state_of(p) for p in m.parameters()]))
        return mon, np.array(truth)

    return one_thread(go)


class Missing(nn.Module):
    """A module never called, one dropped after the warm-up, one left out of the optimizer, one frozen."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head, self.aux, self.spare, self.probe, self.frozen = (nn.Linear(4, 1) for _ in range(5))

    def forward(self, x: torch.Tensor, warm: bool) -> torch.Tensor:
        h = torch.tanh(self.body(x))
        out = self.head(h) + self.probe(h) + self.frozen(h)
        return out + self.aux(h) if warm else out


def missing_run() -> gradviz.Monitor:
    torch.manual_seed(0)
    model = Missing()
    model.frozen.requires_grad_(False)
    held = [p for n, p in model.named_parameters() if not n.startswith(("probe.", "frozen."))]
    opt = torch.optim.SGD(held, lr=0.1)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    with gradviz.watch(model, optimizer=opt, weights_every=2) as mon:
        for step in range(8):
            opt.zero_grad()
            F.mse_loss(model(x, step < 3), y).backward()
            opt.step()
    return mon


def synthetic() -> History:
    """Rows every 10 steps (so "by step"), downsampled past the first NaN (so its exact step is told
    apart), three NaN groups, zero gradients from the first row."""
    names = ["a.w", "a.b", "b.w", "b.b", "c.w", "c.b"]
    rows = 6
    state = np.full((rows, len(names)), FINITE, np.uint8)
    grad = np.full(state.shape, 0.5, np.float32)
    state[2:, 0] = NONFINITE
    state[3:, 1:3] = NONFINITE
    state[5:, 3] = NONFINITE
    state[:, 5] = ZERO
    grad[state != FINITE] = np.nan
    grad[:, 5] = 0
    ratio = np.full(state.shape, np.nan, np.float32)
    return History(
        [0, 10, 20, 30, 40, 50],
        names,
        grad,
        ratio,
        ratio,
        state,
        first_nonfinite=(13, "a.w"),
        every=1,
        stride=2,
    )


# -- tests ---------------------------------------------------------------------------------------------


def test_python_and_the_banner_write_the_same_lines(tmp_path):
    runs: dict[str, tuple[History, dict | None]] = {}
    for name in ("dead_relus", "nan_from_log", "vanishing_gradients", "untrained_body", "healthy_deep_relu"):
        mon = demo(name).monitor
        runs[name] = (mon.history, mon.graph[0] if mon.graph else None)
    mon, _ = gpt_nan_first()
    runs["gpt_nan_first"] = (mon.history, mon.graph[0])
    mon = missing_run()
    runs["missing"] = (mon.history, mon.graph[0])
    runs["synthetic"] = (synthetic(), None)
    states = {name: build_watch_state(h, (g, b"", b"") if g else None) for name, (h, g) in runs.items()}
    js = banner(states, tmp_path)
    for name, (history, graph) in runs.items():
        assert js[name] == python_lines(history, graph), name
    kinds = {line["kind"] for lines in js.values() for line in lines}
    assert kinds == {"nonfinite", "explode", "zero", "never", "none", "unchanged", "vanishing"}  # every kind
    # the healthy demo learns at every step; its one ▲ is a real spike (norms ~8x their median at step 58)
    assert [line["kind"] for line in js["healthy_deep_relu"]] == ["explode"]


def test_a_nan_that_starts_in_one_parameter_and_spreads_is_told_as_such():
    mon, truth = gpt_nan_first()
    names = mon.history.names
    np.testing.assert_array_equal(mon.history.state, truth)
    nan = truth == NONFINITE
    first = np.where(nan.any(axis=0), nan.argmax(axis=0), -1)
    assert first.min() == 20 and [n for n, f in zip(names, first, strict=True) if f == 20] == ["tok.weight"]
    assert (first[1:] == 21).all() and len(names) == 148
    [line] = [
        p for p in problem_lines(mon.history, frozen_columns(names, mon.graph[0])) if p.kind == "nonfinite"
    ]
    assert line.text == "tok.weight went NaN/Inf first, at step 20; 147 others followed at step 21."
    assert line.columns[0] == names.index("tok.weight") and line.row == 20


def test_a_nan_in_every_parameter_at_once_is_told_as_such():
    run = nan_run()
    truth = replay_states(run)
    nan = truth == NONFINITE
    step = int(nan.any(axis=1).argmax())
    assert nan[step].all() and not nan[:step].any()  # plain torch: all 4 at once
    history = demo("nan_from_log").monitor.history
    lines = {p.kind: p.text for p in problem_lines(history)}
    assert lines["nonfinite"] == f"At step {step}, all 4 parameters went NaN/Inf at once."


def test_dead_relus_lines_follow_plain_torch():
    truth = replay_states(dead_relu_run())
    history = demo("dead_relus").monitor.history
    names = history.names
    zero = truth == ZERO
    first = np.where(zero.any(axis=0), zero.argmax(axis=0), -1)
    died = sorted({int(f) for f in first if f >= 0})
    assert len(died) == 1  # every dead layer died at one step
    dead = [n for n, f in zip(names, first, strict=True) if f >= 0]
    lines = {p.kind: p for p in problem_lines(history)}
    listed = f"{', '.join(dead[:-1])} and {dead[-1]}"
    who = f"{len(dead)} of {len(names)} parameters"
    expected = f"At step {died[0]}, {who} got exactly zero gradients at once: {listed}."
    assert lines["zero"].text == expected
    assert [names[c] for c in lines["zero"].columns] == dead


def test_missing_gradients_never_lost_and_not_held():
    mon = missing_run()
    frozen = frozen_columns(mon.history.names, mon.graph[0])
    lines = {p.kind: p.text for p in problem_lines(mon.history, frozen)}
    assert lines["never"] == (
        "2 unfrozen parameters never got a gradient: .grad stayed None at every recorded step "
        "(spare.weight and spare.bias)."
    )
    assert lines["none"] == (
        "At step 3, 2 of 10 unfrozen parameters lost their gradients (.grad None) at once: "
        "aux.weight and aux.bias."
    )
    assert lines["unchanged"] == (
        "2 parameters (probe.weight and probe.bias) get gradients, but the optimizer does not hold them: "
        "their weights never change."
    )
    assert "frozen." not in " ".join(lines.values())  # a frozen parameter is no problem


def test_by_step_and_a_first_nan_the_history_dropped():
    lines = {p.kind: p.text for p in problem_lines(synthetic())}
    assert lines["nonfinite"] == (
        "a.w went NaN/Inf first, by step 20; 3 others followed from step 30 to step 50: a.b, b.w and b.b"
        " (4 of 6 parameters). The first NaN/Inf was at step 13, in a.w (a step the history no longer keeps)."
    )
    assert lines["zero"] == "At the first recorded step (0), c.b already gets an exactly zero gradient."


def test_exploding_is_the_running_median_rule():
    rng = np.random.default_rng(0)
    grad = rng.uniform(0.5, 1.5, (80, 3)).astype(np.float32)
    grad[30, 1] = 40.0  # 40x its median
    grad[3, 2] = 40.0  # before 5 earlier norms: never flagged
    state = np.full(grad.shape, FINITE, np.uint8)
    history = History(np.arange(80), ["a", "b", "c"], grad, grad, np.full(grad.shape, np.nan), state)
    np.testing.assert_array_equal(explosions(history), [-1, 30, -1])
