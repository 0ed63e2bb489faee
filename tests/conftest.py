"""Shared fixtures: every test must leave torch as it found it (no hooks, no modes left behind)."""

from __future__ import annotations

import pytest
import torch
from torch.nn.modules import module as nn_module


def torch_hook_state() -> tuple[int, int, int, int]:
    return (
        len(nn_module._global_forward_pre_hooks),
        len(nn_module._global_forward_hooks),
        len(nn_module._global_parameter_registration_hooks),
        torch._C._len_torch_function_stack(),
    )


@pytest.fixture(autouse=True)
def _no_leftover_hooks():
    before = torch_hook_state()
    yield
    assert torch_hook_state() == before, "a test left a global module hook or a TorchFunctionMode behind"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
