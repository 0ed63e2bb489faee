"""What gradviz says in words about learning: the watch run's summaries (``_watch_summary``, the Monitor's
repr, the training demos' reports) and the trace's headline. "all learn" only when every parameter learns;
frozen is counted apart. The NaN and dead-ReLU runs are replayed in plain torch on fresh copies of the
same seeded runs, and the recorded states and the counts are checked against what torch gives."""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import gradviz
import gradviz.demos as demos
from gradviz._demos.gpt import TinyGPT
from gradviz._demos.training import Run, dead_relu_run, nan_run
from gradviz.records import GradState, History
from gradviz.view._watch_state import build_watch_state
from gradviz.view._watch_summary import (
    VANISH,
    Health,
    counts_text,
    frozen_columns,
    health,
    moves,
    run_text,
    step_counts,
)

NONE, ZERO, FINITE, NONFINITE = (
    int(s) for s in (GradState.none, GradState.zero, GradState.finite, GradState.nonfinite)
)
ALL_LEARN = re.compile(r"\ball (\d+ )?learn")


@contextlib.contextmanager
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the demos train: the same numerics on every machine
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def grad_state(p: torch.Tensor) -> int:
    """What plain torch says ``p.grad`` holds."""
    if p.grad is None:
        return NONE
    if not torch.isfinite(p.grad).all():
        return NONFINITE
    return ZERO if bool((p.grad == 0).all()) else FINITE


def replay(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """Train ``run`` with no gradviz at all; the state and norm of every .grad at every optimizer step."""
    params = list(run.model.parameters())
    states, norms = [], []
    with one_thread():
        for _ in range(run.steps):
            loss = run.loss_fn(run.model(run.X), run.Y)
            run.optimizer.zero_grad()
            loss.backward()
            states.append([grad_state(p) for p in params])
            norms.append([float(p.grad.double().norm()) if p.grad is not None else np.nan for p in params])
            run.optimizer.step()
    return np.array(states, np.uint8), np.array(norms)


def truth_counts(state: np.ndarray, norm: np.ndarray) -> dict[Health, int]:
    """Counts of one row from plain torch's states and norms (every parameter here is trainable and held)."""
    finite = state == FINITE
    return {
        h: n
        for h, n in [
            (Health.learn, int((finite & (norm >= VANISH)).sum())),
            (Health.vanishing, int((finite & (norm < VANISH)).sum())),
            (Health.none, int((state == NONE).sum())),
            (Health.zero, int((state == ZERO).sum())),
            (Health.nonfinite, int((state == NONFINITE).sum())),
        ]
        if n
    }


@pytest.fixture(scope="module", params=["dead_relus", "nan_from_log"])
def sick_run(request):
    demo = getattr(demos, request.param)()
    states, norms = replay({"dead_relus": dead_relu_run, "nan_from_log": nan_run}[request.param]())
    return demo, states, norms


def test_recorded_states_are_what_plain_torch_gives(sick_run) -> None:
    demo, states, norms = sick_run
    h = demo.history
    np.testing.assert_array_equal(h.state, states)
    finite = states == FINITE
    np.testing.assert_allclose(h.grad_norm[finite], norms[finite], rtol=1e-4)
    assert not (states == FINITE).all()  # a sick run: some gradient is zero or non-finite


def test_sick_runs_never_say_all_learn_and_count_what_torch_gives(sick_run) -> None:
    demo, states, norms = sick_run
    mon = demo.monitor
    counts = step_counts(demo.history, -1)
    assert counts == truth_counts(states[-1], norms[-1])
    assert f"step {demo.history.steps[-1]}: {counts_text(counts)}" in repr(mon)
    texts = [repr(mon), demo.report(), run_text(demo.history)]
    pretty = pytest.importorskip("IPython.lib.pretty").pretty(mon)
    for text in [*texts, pretty]:
        assert not ALL_LEARN.search(text), text
    worst = {"dead_relus": "with zero gradients", "nan_from_log": "with NaN/Inf gradients"}[demo.name]
    first_bad = int(np.argmax((states != FINITE).any(axis=1)))
    assert f"{worst}, first at step {first_bad}" in run_text(demo.history)


def test_a_frozen_embedding_is_counted_apart_never_as_learning() -> None:
    def make():
        torch.manual_seed(0)
        model = TinyGPT(use_reentrant=False)
        model.tok.weight.requires_grad_(False)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
        return model, opt

    def steps(model, opt, n=3):
        torch.manual_seed(1)
        for _ in range(n):
            idx = torch.randint(0, 8, (4, 16))
            loss = F.cross_entropy(model(idx).flatten(0, 1), idx.flatten())
            opt.zero_grad()
            loss.backward()
            yield
            opt.step()

    model, opt = make()
    with one_thread(), gradviz.watch(model, optimizer=opt) as mon:
        for _ in steps(model, opt):
            pass
    plain, plain_opt = make()  # truth: the same steps in plain torch
    with one_thread():
        for _ in steps(plain, plain_opt):
            state = [grad_state(p) for p in plain.parameters()]
            norm = [float(p.grad.norm()) if p.grad is not None else 0.0 for p in plain.parameters()]
    frozen = [not p.requires_grad for p in plain.parameters()]
    assert frozen.count(True) == 1 and state[frozen.index(True)] == NONE
    learn = sum(s == FINITE and n >= VANISH for s, n in zip(state, norm, strict=True))
    assert learn == 27
    assert frozen_columns(mon.history.names, mon.graph[0]) == frozen
    assert repr(mon).endswith("step 2: 27 learn, 1 frozen>")
    assert run_text(mon.history, frozen) == "over 3 recorded steps: 27 learn at every step; 1 frozen"
    timeline = mon.widget().timeline
    assert timeline["frozen"] == frozen
    assert "all learn" not in mon.graph[0]["title"]


def test_frozen_weight_trace_says_one_learns_one_frozen() -> None:
    d = demos.frozen_weight()
    weight, bias = d.model.weight, d.model.bias  # truth from torch: the state after the traced step
    assert not weight.requires_grad and weight.grad is None
    assert bias.grad is not None and torch.isfinite(bias.grad).all() and bias.grad.abs().sum() > 0
    assert repr(d.trace) == "<gradviz.Trace Linear: 2 tensors checked: 1 learns, 1 frozen>"
    assert "all learn" not in d.report()


def test_tiny_gpt_bug_headline_counts_each_kind() -> None:
    d = demos.tiny_gpt_bug()
    learn = [n for n, p in d.model.named_parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)]
    frozen = [n for n, p in d.model.named_parameters() if not p.requires_grad]
    assert (len(learn), frozen) == (3, ["tok.weight"])
    headline = d.trace.report().splitlines()[0]
    assert headline == "TinyGPT: 28 tensors checked: 3 learn, 24 will not learn, 1 frozen"


# --- the rules, on hand-made histories -------------------------------------------------------------


def history(state, grad=None, ratio=None, steps=None) -> History:
    state = np.asarray(state, np.uint8)
    grad = np.where(state == FINITE, 1.0, np.where(state == ZERO, 0.0, np.nan)) if grad is None else grad
    ratio = np.full(state.shape, np.nan) if ratio is None else ratio
    rows, p = state.shape
    return History(
        np.arange(rows) if steps is None else steps, [f"p{i}" for i in range(p)], grad, grad, ratio, state
    )


def test_each_cell_gets_one_health() -> None:
    state = [[FINITE, NONFINITE, ZERO, NONE, NONE, FINITE, FINITE]]
    grad = np.array([[1.0, np.nan, 0.0, np.nan, np.nan, 1e-9, 1.0]])
    ratio = np.array([[1e-3, np.nan, 1e-3, np.nan, np.nan, 1e-3, np.nan]])  # p6: the optimizer skipped it
    h = history(state, grad, ratio)
    frozen = [False, False, False, False, True, False, False]
    cells = health(h, frozen)[0]
    kinds = [list(Health)[i] for i in cells]
    assert kinds == ["learn", "nonfinite", "zero", "none", "frozen", "vanishing", "unchanged"]
    assert counts_text(step_counts(h, 0, frozen)) == (
        "1 learns, 1 with NaN/Inf gradients, 1 with zero gradients, 1 without a gradient, "
        "1 unchanged by the optimizer, 1 vanishing (norm < 1e-7), 1 frozen"
    )


def test_all_learn_only_when_every_parameter_learns() -> None:
    h = history([[FINITE, FINITE], [FINITE, ZERO]])
    assert counts_text(step_counts(h, 0)) == "all 2 learn"
    assert counts_text(step_counts(h, 1)) == "1 learns, 1 with zero gradients"
    expected = "over 2 recorded steps: 1 learns at every step; 1 with zero gradients, first at step 1"
    assert run_text(h) == expected
    assert run_text(history([[FINITE, FINITE]])) == "over 1 recorded step: all 2 learn at every step"
    assert counts_text(step_counts(history([[FINITE]]), 0)) == "it learns"


def test_moves_reads_only_measured_steps_with_a_finite_gradient() -> None:
    state = [[FINITE] * 5, [FINITE] * 5, [ZERO, FINITE, FINITE, FINITE, FINITE]]
    ratio = np.array(
        [
            [1e-3, np.nan, 0.0, np.nan, np.inf],  # row 0 measured: p1 not held (NaN), p2 did not change (0)
            [np.nan] * 5,  # not measured
            [0.0, np.nan, 0.0, np.nan, 1e-3],
        ]
    )
    h = history(state, ratio=ratio)
    # p3: NaN at every measured step as well; p4: +Inf is a weight that was all zero and moved
    assert moves(h) == [True, False, False, False, True]
    assert moves(history([[FINITE, FINITE]])) == [None, None]  # no weight step measured: unknown


def test_the_widget_timeline_carries_frozen_and_moves_for_the_front_end() -> None:
    h = history([[FINITE, NONE]], ratio=np.array([[1e-3, np.nan]]))
    graph = {"verdicts": [{"name": "p1", "cause": "frozen", "node": "p3"}]}
    timeline = build_watch_state(h, (graph, b"", b""))["timeline"]
    assert (timeline["frozen"], timeline["moves"]) == ([False, True], [True, None])
