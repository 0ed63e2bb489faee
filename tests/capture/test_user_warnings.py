"""torch's warnings under a trace land where plain torch puts them (NOTE [warnings at the user's line]):
each step runs once plainly and once traced, on copies of the same model, and the warnings each shows
(category, text, file, line) must be the same."""

from __future__ import annotations

import copy
import os
import warnings

import pytest
import torch
import torch.nn.functional as F
from _warning_helpers import soft
from torch import nn

import gradviz

torch.manual_seed(0)
TORCH_DIR = os.path.dirname(torch.__file__) + os.sep


def _softmax_functional(m, x):
    return F.softmax(m(x)).sum()  # Python warnings.warn with a stacklevel, via handle_torch_function


def _softmax_module(m, x):
    return nn.Softmax()(m(x)).sum()  # the module passes _stacklevel=5: past nn.Module's frames


def _copy_construct(m, x):
    y = m(x)
    y = y.new_tensor(y)  # TORCH_WARN in C++: the topmost Python frame
    return (y * m(x)).sum()


def _non_leaf_grad(m, x):
    y = m(x)
    _ = y.grad  # TORCH_WARN from a property read (Tensor.grad goes through the mode too)
    return y.sum()


def _helper(m, x):
    return soft(m(x)).sum()  # the warning is the helper module's line, not this one


def _two_lines(m, x):
    a = F.softmax(m(x))
    b = F.softmax(m(x))  # a second line: a second warning under "default"
    for _ in range(3):
        a = a + F.softmax(m(x))  # one line in a loop: one warning under "default"
    return (a + b).sum()


class _WarnsInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        warnings.warn("backward of a custom Function", UserWarning, stacklevel=2)
        return g * 2


def _custom_backward(m, x):
    return _WarnsInBackward.apply(m(x)).sum()


STEPS = [
    _softmax_functional,
    _softmax_module,
    _copy_construct,
    _non_leaf_grad,
    _helper,
    _two_lines,
    _custom_backward,
]


def _shown(step, m, x, traced: bool, action: str):
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter(action)
        if traced:
            with gradviz.trace(m):
                step(m, x).backward()
        else:
            step(m, x).backward()
    return [_place(w) for w in got if "gradviz" not in str(w.message)]


def _place(w: warnings.WarningMessage) -> tuple:
    # A trace's module hooks send nn.Module calls through the hook path of torch's _call_impl: a warning
    # whose stacklevel ends inside torch (nn.Softmax's does) lands on another line of the same torch file.
    inside_torch = w.filename.startswith(TORCH_DIR)
    return w.category, str(w.message), w.filename, None if inside_torch else w.lineno


@pytest.mark.parametrize("action", ["always", "default"])
@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.__name__)
def test_warnings_land_where_plain_torch_puts_them(step, action):
    model = nn.Linear(4, 3)
    x = torch.randn(2, 4)
    plain = _shown(step, copy.deepcopy(model), x, False, action)
    traced = _shown(step, copy.deepcopy(model), x, True, action)
    assert plain, "the step warns in plain torch"
    assert traced == plain
    assert not any("/gradviz/capture/" in w[2] for w in traced)


def test_a_user_filter_by_module_applies_as_in_plain_torch():
    m, x = nn.Linear(4, 3), torch.randn(2, 4)
    for traced in (False, True):
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            warnings.filterwarnings("ignore", module=__name__.replace(".", r"\.") + r"\Z")
            if traced:
                with gradviz.trace(m):
                    _softmax_functional(m, x).backward()
            else:
                _softmax_functional(m, x).backward()
        assert [str(w.message) for w in got] == [], traced


def test_an_error_filter_raises_the_warning_as_in_plain_torch():
    m, x = nn.Linear(4, 3), torch.randn(2, 4)
    for traced in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(UserWarning, match="Implicit dimension"):
                if traced:
                    with gradviz.trace(m):
                        _softmax_functional(m, x)
                else:
                    _softmax_functional(m, x)


def test_the_display_hook_and_filter_are_gone_after_the_trace():
    before_show, before_filters = warnings._showwarnmsg, list(warnings.filters)
    m, x = nn.Linear(4, 3), torch.randn(2, 4)
    with gradviz.trace(m), warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        assert warnings._showwarnmsg is not before_show
        _softmax_functional(m, x).backward()
    assert [w.filename for w in got] == [__file__]
    assert warnings._showwarnmsg is before_show
    assert list(warnings.filters) == before_filters
    with pytest.raises(RuntimeError), gradviz.trace(m):
        raise RuntimeError("the user's error")
    assert warnings._showwarnmsg is before_show
    assert list(warnings.filters) == before_filters


def _warns_in_hook(module, grad_input, grad_output):
    warnings.warn("module backward hook", UserWarning, stacklevel=2)


@pytest.mark.parametrize("action", ["always", "default"])
def test_a_warning_in_a_module_backward_hook_lands_where_plain_torch_puts_it(action):
    # the hook is registered before the trace: gradviz runs it under its backward-writes mode
    # (NOTE [writes during a backward]), one frame between it and torch's caller
    model = nn.Linear(4, 3)
    model.register_full_backward_hook(_warns_in_hook)
    x = torch.randn(2, 4, requires_grad=True)
    plain = _shown(lambda m, x: m(x).sum(), copy.deepcopy(model), x, False, action)
    traced = _shown(lambda m, x: m(x).sum(), copy.deepcopy(model), x, True, action)
    assert plain, "the hook warns in plain torch"
    assert traced == plain
    assert not any("/gradviz/capture/" in w[2] for w in traced)
