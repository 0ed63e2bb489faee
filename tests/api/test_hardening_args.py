"""Bad arguments get gradviz's own message, saying what was expected and what was given."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gradviz
from gradviz.capture._targets import optimizer_ids


class _Like:
    """An optimizer-like object: only ``param_groups``, as some wrappers and hand-made optimizers have."""

    def __init__(self, param_groups: object) -> None:
        self.param_groups = param_groups


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(3, 1)


def _malformed(model: nn.Module) -> list[tuple[object, str]]:
    """param_groups that torch.optim would never hold, and what the message says about each."""
    w, b = model.weight, model.bias
    groups = r"optimizer\.param_groups"
    return [
        ({"params": [w, b]}, rf"{groups} must be a list of dicts.*; \w+ has a dict\.$"),
        (None, rf"{groups} must be a list of dicts.*; \w+ has None\.$"),
        ([w, b], rf"{groups}\[0\] must be a dict with a 'params' list of tensors, got a Parameter\.$"),
        ([{"lr": 0.1}], rf"{groups}\[0\] has no 'params' \(a list of tensors\); its keys: 'lr'\.$"),
        ([{"params": (p for p in (w, b))}], rf"{groups}\[0\]\['params'\] must be a list .*a generator\.$"),
        ([{"params": [w]}, {"params": [b, "bias"]}], rf"{groups}\[1\]\['params'\]\[1\] .*got 'bias'\.$"),
        ([{"params": [model]}], rf"{groups}\[0\]\['params'\]\[0\] must be a tensor, got a Linear\.$"),
    ]


def test_diagnose_names_what_is_wrong_with_the_optimizer() -> None:
    model = _model()
    loss = model(torch.randn(2, 3)).sum()
    loss.backward()
    with pytest.raises(
        TypeError, match=r"^gradviz\.diagnose: optimizer must be a torch\.optim\.Optimizer .* got an object"
    ):
        gradviz.diagnose(loss, model, optimizer=object())
    for groups, message in _malformed(model):
        with pytest.raises(TypeError, match=f"^gradviz\\.diagnose: {message}"):
            gradviz.diagnose(loss, model, optimizer=_Like(groups))
    # a well-formed optimizer-like object is accepted, and read as torch's
    t = gradviz.diagnose(loss, model, optimizer=_Like([{"params": [model.weight]}]))
    assert t.verdicts["bias"].cause == gradviz.Cause.not_in_optimizer
    assert t.verdicts["weight"].cause == gradviz.Cause.ok


def test_trace_checks_the_optimizer_before_it_starts() -> None:
    model = _model()
    for groups, message in _malformed(model):
        with pytest.raises(TypeError, match=f"^gradviz\\.trace: {message}"):
            gradviz.trace(model, _Like(groups))
    with pytest.raises(TypeError, match=r"gradviz\.trace: optimizer must be .* got 'adam'"):
        gradviz.trace(model, "adam")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="node_norms must be True or False, got 'no'"):
        gradviz.trace(model, node_norms="no")  # type: ignore[arg-type]


def test_watch_checks_a_real_optimizer_whose_groups_were_broken() -> None:
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for groups, message in _malformed(model):
        opt.param_groups = groups  # type: ignore[assignment]
        with pytest.raises(TypeError, match=f"^gradviz\\.watch: {message}"):
            gradviz.watch(model, optimizer=opt)
    assert not opt._optimizer_step_pre_hooks and not model._forward_hooks  # nothing was installed
    with pytest.raises(TypeError, match=r"optimizer must be a torch\.optim\.Optimizer .*step hooks"):
        gradviz.watch(model, optimizer=_Like([{"params": [model.weight]}]))  # type: ignore[arg-type]


def test_optimizer_ids_says_where_a_group_is_malformed() -> None:
    model = _model()
    assert optimizer_ids(_Like([{"params": [model.weight]}, {"params": (model.bias,)}])) == {
        id(model.weight),
        id(model.bias),
    }
    for groups, message in _malformed(model):
        with pytest.raises(TypeError, match=message):
            optimizer_ids(_Like(groups))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"every": "2"}, TypeError, r"every must be an int >= 1 \(record every N-th step\), got '2'"),
        ({"every": 2.0}, TypeError, "every must be an int >= 1"),
        ({"every": True}, TypeError, "every must be an int >= 1"),
        ({"weights_every": 0}, ValueError, "weights_every must be an int >= 1 or None"),
        ({"max_steps": "all"}, TypeError, "max_steps must be an int >= 2 or None"),
        ({"params": 5}, TypeError, r"params must be parameter names .* or a filter .*, got int"),
        ({"params": ["weight", 3]}, TypeError, "params must be parameter names"),
        ({"log_dir": 5}, TypeError, r"log_dir must be a path \(str or os\.PathLike\), got 5"),
        ({"ranks": "some"}, ValueError, "ranks must be an int, a list of ints or 'all'"),
    ],
)
def test_watch_says_what_each_argument_takes(kwargs, error, message) -> None:
    model = _model()
    with pytest.raises(error, match=message):
        gradviz.watch(model, **kwargs)
    assert not model._forward_hooks


def test_open_says_what_its_arguments_take(tmp_path) -> None:
    with pytest.raises(TypeError, match=r"gradviz\.open: log_dir must be a path .* got 3"):
        gradviz.open(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"rank must be an int >= 0 .* got -1"):
        gradviz.open(tmp_path, rank=-1)
    with pytest.raises(TypeError, match=r"rank must be an int >= 0 .* got '1'"):
        gradviz.open(tmp_path, rank="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"max_steps must be an int >= 2 or None .* got 2\.5"):
        gradviz.open(tmp_path, max_steps=2.5)  # type: ignore[arg-type]


def test_ddp_check_wants_a_finished_trace() -> None:
    model = _model()
    t = gradviz.trace(model)
    with pytest.raises(ValueError, match=r"needs a finished gradviz\.trace, but it never ran"):
        gradviz.ddp_check(t)
    with t:
        with pytest.raises(ValueError, match="its with-block is still running"):
            gradviz.ddp_check(t)
        model(torch.randn(2, 3)).sum().backward()
    assert gradviz.ddp_check(t).ok
    with pytest.raises(TypeError, match=r"ddp_check takes the result of gradviz\.trace .* got Linear"):
        gradviz.ddp_check(model)


def test_history_load_max_bytes_is_checked(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"max_bytes must be an int >= 0 \(bytes of memory\), got -1"):
        gradviz.History.load(tmp_path / "h.npz", max_bytes=-1)
