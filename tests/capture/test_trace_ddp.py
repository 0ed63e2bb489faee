"""trace on a DistributedDataParallel model names parameters as the user wrote them (no `module.`)."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
from torch import nn

import gradviz
from gradviz import Cause


@pytest.fixture
def one_process_group():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 1)
        self.unused = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


@pytest.mark.usefixtures("one_process_group")
def test_ddp_wrapped_model_names_and_verdicts() -> None:
    model = nn.parallel.DistributedDataParallel(Net(), find_unused_parameters=True)
    with gradviz.trace(model) as t:
        model(torch.randn(4, 3)).sum().backward()
    assert sorted(t.verdicts) == sorted(n for n, _ in Net().named_parameters())
    assert t.verdicts["a.weight"].cause is Cause.ok
    assert t.verdicts["unused.weight"].cause is Cause.unused
    assert t.capture.model_name == "Net"
    assert "DistributedDataParallel" not in {op.module for op in t.capture.ops}
