"""gradviz.demos: every demo runs, gives the verdicts it teaches, and displays as the widget."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

import gradviz
import gradviz.demos as demos
from gradviz._demos._base import KINDS, REGISTRY, Spec

NAMES = [entry.name for entry in demos.catalog()]
TRACED = [name for name in NAMES if isinstance(REGISTRY[name], Spec)]  # the others run gradviz.watch
TRAINING = [name for name in NAMES if name not in TRACED]
WITH_WHERE = [name for name in TRACED if REGISTRY[name].where]


def test_catalog_lists_every_public_demo_once():
    public = {name for name in demos.__all__ if name not in ("Demo", "TrainingDemo", "catalog")}
    assert sorted(NAMES) == sorted(public) == sorted(REGISTRY)
    assert len(NAMES) == len(set(NAMES))
    for entry in demos.catalog():
        assert entry.kind in KINDS
        assert entry.summary and "\n" not in entry.summary and len(entry.summary) <= 84, entry


def test_catalog_prints_one_line_per_demo_grouped_by_kind():
    text = str(demos.catalog())
    for name in NAMES:
        assert sum(line.split()[:1] == [name] for line in text.splitlines()) == 1, name
    for kind in {entry.kind for entry in demos.catalog()}:
        assert KINDS[kind] + ":" in text


@pytest.mark.parametrize("name", TRACED)
def test_demo_gives_the_verdicts_it_teaches(name):
    demo = getattr(demos, name)()
    assert isinstance(demo, demos.Demo) and isinstance(demo.trace, gradviz.Trace)
    assert demo.mismatches() == [], demo.report()
    demo.check()
    spec = REGISTRY[name]
    if spec.raises is None:
        assert demo.error is None
    else:
        assert isinstance(demo.error, spec.raises)
        notes = "\n".join(getattr(demo.error, "__notes__", []))
        assert "gradviz" in notes, "the exception kept by the demo lacks gradviz's note"
        assert notes in demo.report()
    if spec.kind == "myth":
        assert demo.problems == {}


def test_demos_where_points_at_the_line_they_teach():
    wrong = {name: getattr(demos, name)().where_mismatches() for name in WITH_WHERE}
    assert {name: found for name, found in wrong.items() if found} == {}


@pytest.mark.parametrize("name", ["detach_in_forward", "detach_before_loss", "tiny_gpt_bug"])
def test_demo_displays_the_widget_and_the_report(name):
    demo = getattr(demos, name)()
    data, _meta = demo._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/plain"].startswith(f"{name}: {REGISTRY[name].summary}")
    assert demo.trace.report() in data["text/plain"]
    assert name in repr(demo)


def test_step_runs_the_case_again_under_a_new_trace():
    demo = demos.detach_in_forward()
    first = demo.trace
    second = demo.step()
    assert second is demo.trace and second is not first
    assert demo.mismatches() == []
    assert demo.steps == 2


def test_demos_are_deterministic():
    a, b = demos.plain_list_of_modules(), demos.plain_list_of_modules()
    assert {k: v.grad_norm for k, v in a.verdicts.items()} == {k: v.grad_norm for k, v in b.verdicts.items()}
    c = demos.plain_list_of_modules(seed=1)
    assert c.verdicts["head.weight"].grad_norm != a.verdicts["head.weight"].grad_norm


def test_source_shows_the_case_without_the_registration():
    src = demos.detach_in_forward().source
    assert "h = h.detach()" in src and "@demo" not in src
    src = demos.setitem_on_leaf().source
    assert "class InputScaler" in src and "x[:] = x * 2" in src


def test_check_fails_when_a_verdict_differs():
    demo = demos.frozen_weight()
    demo.spec = dataclasses.replace(demo.spec, expect={"*": "ok", "missing.*": "ok"})
    assert demo.mismatches() == [
        "no verdict matches 'missing.*'",
        "weight: cause frozen, the demo teaches ok",
    ]
    with pytest.raises(AssertionError, match="weight: cause frozen, the demo teaches ok"):
        demo.check()


def test_public_functions_document_themselves():
    for name in NAMES:
        fn = getattr(demos, name)
        assert fn.__name__ == name and fn.__module__ == "gradviz.demos"
        assert REGISTRY[name].summary in (fn.__doc__ or "")
        assert list(inspect.signature(fn).parameters) == (["seed"] if name in TRACED else [])


@pytest.mark.parametrize("name", TRAINING)
def test_training_demo_shows_what_it_teaches(name):
    demo = getattr(demos, name)()
    assert isinstance(demo, demos.TrainingDemo) and isinstance(demo.monitor, gradviz.Monitor)
    assert demo.monitor.closed, "the demo must not leave the monitor's hooks on the model"
    assert demo.mismatches() == [], demo.report()
    demo.check()
    assert len(demo.history) == len(demo.losses) > 0
    report = demo.report()
    assert report.startswith(f"{name}: {REGISTRY[name].summary}") and "[ ]" not in report
    assert callable(demo._ipython_display_) and name in repr(demo)


def test_nan_demo_traces_the_step_where_nan_started():
    demo = demos.nan_from_log()
    step = demo.history.first_nonfinite[0]
    assert all(v.cause == "nonfinite" for v in demo.trace.verdicts.values())
    assert "log" in demo.trace.verdicts["0.weight"].message
    assert all(loss == loss for loss in demo.losses[:step])  # finite (not NaN) before that step


def test_demos_leave_the_thread_count_and_the_random_state_alone():
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    demos.dead_relus()
    demos.detach_in_forward().step()
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), rng)
