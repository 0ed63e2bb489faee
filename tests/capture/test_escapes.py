"""Values that leave torch and come back: followed by the object itself where it comes back unchanged
(the very float .item() gave, the very list .tolist() gave), by its values where it was copied, and into
code the tracer cannot see (a TorchScript module). Found by the fuzzer (seed 7, programs 6533, 8108,
11867, 15140). Each case is first checked in plain torch: the parameter gets no gradient."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import gradviz


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, h):
        return torch.tanh(self.lin(h))


class _Net(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4)  # its output's mean is exactly 0.0: a value no number can tell apart
        self.lin = nn.Linear(4, 4)
        self.keep = nn.Linear(4, 4)  # a path that trains, so that the loss has a graph
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; models still use it
            warnings.simplefilter("ignore", DeprecationWarning)
            self.head = torch.jit.script(_Block())
        self.how = how

    def forward(self, x):
        h = self.norm(x)
        if self.how == "item into full":
            back = torch.full((3, 4), h.mean().item())
        elif self.how == "item into new_full":
            back = x.new_full((3, 4), h.mean().item())
        elif self.how == "tolist of equal values":
            flat = torch.tanh(self.lin(x)).mean().expand(3, 4)  # twelve equal values
            back = torch.tensor(flat.tolist())
        else:  # "numpy copy into TorchScript"
            back = self.head(torch.from_numpy(torch.tanh(self.lin(x)).detach().numpy().copy()))
        return self.keep(x) + back


@pytest.mark.parametrize(
    ("how", "lost"),
    [
        ("item into full", "norm.weight"),
        ("item into new_full", "norm.bias"),
        ("tolist of equal values", "lin.weight"),
        ("numpy copy into TorchScript", "lin.weight"),
    ],
)
def test_a_value_that_came_back_is_an_escape(how: str, lost: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    plain = _Net(how)
    plain(x).pow(2).sum().backward()
    assert dict(plain.named_parameters())[lost].grad is None  # plain torch: no gradient came
    torch.manual_seed(0)
    model = _Net(how)
    with gradviz.trace(model) as t:
        model(x).pow(2).sum().backward()
    v = t.verdicts[lost]
    assert v.cause == "escaped", (v.cause, v.message)
    assert v.where is not None and int(v.where.rsplit(":", 1)[1]) > 0


def test_a_literal_equal_to_a_logged_value_is_not_taken_for_it() -> None:
    """The same value written as a literal is another object: logging the norm's mean (0.0) and then
    building a tensor of the literal 0.0 is not an escape of the norm; it is unused."""

    class Logged(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(4)
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            self.logged = self.norm(x).mean().item()  # 0.0, logged only
            return self.lin(x) + torch.full((3, 4), 0.0)

    torch.manual_seed(0)
    x = torch.randn(3, 4)
    model = Logged()
    with gradviz.trace(model) as t:
        model(x).pow(2).sum().backward()
    assert model.norm.weight.grad is None
    assert t.verdicts["norm.weight"].cause == "unused"


class _DetachServes(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.enc, self.head, self.how = nn.Linear(4, 4), nn.Linear(4, 4), how

    def forward(self, x):
        h = torch.tanh(self.enc(x))
        d = h.data if self.how == "data" else h.detach()
        back = torch.tensor(d.tolist()) if self.how == "tolist" else torch.from_numpy(d.numpy().copy())
        out = self.head(back)
        return out if self.how == "serves the escape only" else out + d


@pytest.mark.parametrize(
    ("how", "cause"),
    [("detach", "detach"), ("data", "data"), ("tolist", "detach"), ("serves the escape only", "escaped")],
)
def test_a_detach_that_also_goes_on_into_the_graph_is_a_cut_of_its_own(how: str, cause: str) -> None:
    """``h.data`` serves an escape (``.tolist()``) and also goes on into the loss: the detach cuts a path of
    its own and is named as such; a detach that only serves the escape is the escape. Found by the fuzzer
    (seed 10236, program 572)."""
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    plain = _DetachServes(how)
    plain(x).pow(2).mean().backward()
    assert plain.enc.weight.grad is None  # plain torch: every path cut
    torch.manual_seed(0)
    model = _DetachServes(how)
    with gradviz.trace(model) as t:
        model(x).pow(2).mean().backward()
    v = t.verdicts["enc.weight"]
    assert v.cause == cause
    assert v.where is not None and v.where.endswith(f":{_line_of('d = h.data if')}")


def _line_of(text: str) -> int:
    import inspect

    lines, first = inspect.getsourcelines(_DetachServes.forward)
    return first + next(i for i, line in enumerate(lines) if text in line)


def test_a_changed_value_back_from_numpy_is_hedged_only_between_lines() -> None:
    """Values changed in NumPy come back (np.tanh): with two escapes of their shape at two lines, the words
    say it may be either line's (naming the other line as written, braces and all); with both escapes at
    one line (a loop), that line surely let them out."""
    import numpy as np

    def run(loop: bool) -> str:
        torch.manual_seed(0)
        m1, m2 = nn.Linear(4, 4), nn.Linear(4, 4)
        x = torch.randn(2, 4)
        with gradviz.trace(nn.ModuleDict({"m1": m1, "m2": m2})) as t:
            if loop:
                outs = [m1(x + i).detach().numpy() for i in range(2)]
            else:
                outs = [m1(x).detach().numpy()]
                outs.append({"m2": m2(x).detach().numpy()}["m2"])  # another line, with braces in it
            (torch.from_numpy(np.tanh(outs[0])) * m2(x)).sum().backward()
        assert m1.weight.grad is None and m2.weight.grad is not None  # torch: m1's values came back cut
        assert t.verdicts["m1.weight"].cause.value == "escaped"
        return t.verdicts["m1.weight"].message

    hedged = run(loop=False)
    assert "it may hold these values, or those that left torch at" in hedged and '{"m2": m2(x)' in hedged
    looped = run(loop=True)
    assert "may hold" not in looped and "came back as a new tensor with no history" in looped
