"""One training step of each zoo model under gradviz.trace, against plain torch on a deep copy.

A test fails on any false alarm (a verdict other than ok for a finite, non-zero gradient the optimizer
holds), any miss (ok, or the wrong state, for a gradient torch left None / exactly zero / non-finite), any
gradient or weight that tracing or watching changed, and any exception from gradviz or one of its views.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

_MISSING = [m for m in ("transformers", "diffusers", "peft") if importlib.util.find_spec(m) is None]
if _MISSING:
    if os.environ.get("CI") == "true":
        raise ImportError(f"the zoo needs {', '.join(_MISSING)} (pip install transformers diffusers peft)")
    pytest.skip(f"the zoo needs {', '.join(_MISSING)}", allow_module_level=True)

from ._registry import all_cases  # noqa: E402
from ._run import run_case  # noqa: E402

CASES = all_cases()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models run faster on one thread, and a shared 2-core machine stops spin-waiting (3x less CPU)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_zoo_is_big_enough() -> None:
    groups = {c.group for c in CASES}
    assert len(CASES) >= 30
    assert {"decoder", "encoder", "encoder-decoder", "vision", "speech", "diffusion", "peft"} <= groups


@pytest.mark.zoo
@pytest.mark.parametrize("case", CASES, ids=str)
def test_model(case, tmp_path, zoo_outcomes) -> None:
    outcome = run_case(case, tmp_path)
    zoo_outcomes.append(outcome)
    assert outcome.clean, outcome.text()
