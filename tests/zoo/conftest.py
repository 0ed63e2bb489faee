"""The zoo's marker, quiet library logging, and the summary line printed at the end of the run."""

from __future__ import annotations

import importlib.util
import os

import pytest

# Every zoo model is built from a config with random weights: nothing may come from a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
_OUTCOMES = pytest.StashKey[list]()


def pytest_configure(config: pytest.Config) -> None:
    # Registered here too, so that --strict-markers passes whether or not pyproject.toml lists it.
    config.addinivalue_line(
        "markers",
        "zoo: the real-model sweep (transformers, diffusers, peft models checked against plain torch)",
    )
    config.stash[_OUTCOMES] = []


@pytest.fixture
def zoo_outcomes(pytestconfig: pytest.Config) -> list:
    """Where each zoo test leaves its Outcome for the summary line."""
    return pytestconfig.stash[_OUTCOMES]


@pytest.fixture(scope="session", autouse=True)
def _quiet_libraries() -> None:
    """transformers and diffusers log config remarks (token ids outside a tiny vocab, ...) to stderr."""
    if importlib.util.find_spec("transformers") and importlib.util.find_spec("diffusers"):
        import diffusers
        import transformers

        transformers.logging.set_verbosity_error()
        diffusers.utils.logging.set_verbosity_error()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    outcomes = config.stash.get(_OUTCOMES, [])
    if not outcomes:
        return
    false_alarms = sum(len(o.false_alarms) for o in outcomes)
    misses = sum(len(o.misses) for o in outcomes)
    crashes = sum(len(o.crashes) for o in outcomes)
    wrong = sum(len(o.wrong_causes) for o in outcomes)
    norms = sum(len(o.wrong_norms) for o in outcomes)
    wheres = sum(len(o.library_wheres) for o in outcomes)
    changed = sum(1 for o in outcomes if o.changed)
    terminalreporter.write_sep("-", "zoo")
    for o in outcomes:
        if not o.clean:
            terminalreporter.write_line(o.text())
    terminalreporter.write_line(
        f"zoo: {len(outcomes)} models, {false_alarms} false alarms, {misses} misses, {crashes} crashes"
    )
    terminalreporter.write_line(
        f"zoo: {wrong} verdicts with a cause other than the one known by construction, {norms} wrong "
        f"gradient norms, {wheres} wheres inside a library; {changed} models whose gradients or weights "
        "gradviz changed"
    )
