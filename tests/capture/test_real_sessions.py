"""trace and diagnose the way people really use them: after training, with threads, lazy and meta modules,
functorch, DDP's view of a step. Each expected verdict is checked against what plain torch does."""

from __future__ import annotations

import copy
import threading

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.utils.checkpoint import checkpoint

import gradviz


def _state(g: torch.Tensor | None) -> str:
    if g is None:
        return "none"
    if not bool(torch.isfinite(g).all()):
        return "nonfinite"
    return "zero" if not bool((g != 0).any()) else "nonzero"


class _DropsScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, s):
        return x * s

    @staticmethod
    def backward(ctx, g):
        return g, None


class _Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x):
        return _DropsScale.apply(self.lin(x), self.scale)


def test_ddp_check_names_a_parameter_that_a_function_leaves_without_gradient() -> None:
    model = _Scaled()
    truth = copy.deepcopy(model)
    truth(torch.ones(2, 3)).sum().backward()
    assert truth.scale.grad is None and _state(truth.lin.weight.grad) == "nonzero"
    with gradviz.trace(model) as t:
        model(torch.ones(2, 3)).sum().backward()
    check = gradviz.ddp_check(t)
    assert set(check.rejected) == {"scale"}  # reached by the graph, yet nothing arrived
    assert check.rejected["scale"].cause == "non_differentiable"


class _Checkpointed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(checkpoint(self.inner, x, use_reentrant=True))


def test_ddp_check_agrees_with_torch_under_a_reentrant_checkpoint() -> None:
    # the input requires grad, so the reentrant checkpoint's recomputation gives the inner layers their
    # gradients during backward: DDP sees them arrive, and so must ddp_check
    model = _Checkpointed()
    truth = copy.deepcopy(model)
    x = torch.randn(3, 4, requires_grad=True)
    truth(x).sum().backward()
    assert all(_state(p.grad) == "nonzero" for p in truth.parameters())
    with gradviz.trace(model) as t:
        model(x).sum().backward()
    assert gradviz.ddp_check(t).ok
    assert all(v.cause == "ok" for v in t.verdicts.values()), t.report()


def test_diagnose_after_backward_tells_a_stale_gradient_from_this_loss() -> None:
    model = nn.ModuleDict({"used": nn.Linear(3, 1), "branch": nn.Linear(3, 1)})
    x = torch.randn(4, 3)
    (model["used"](x) + model["branch"](x)).sum().backward()  # an earlier step used both
    loss = model["used"](x).sum()  # this loss does not use the branch; its .grad is from before
    loss.backward()
    t = gradviz.diagnose(loss, model)
    assert t.verdicts["used.weight"].cause == "ok"
    branch = t.verdicts["branch.weight"]
    assert branch.cause == "unused" and "before the trace" in branch.message
    # graph only: it never claims to know what the forward did
    assert "never used in the forward" not in branch.message
    assert "not in the autograd graph of this loss" in branch.message


def test_meta_device_model_is_traced_without_a_crash() -> None:
    model = nn.Linear(3, 2, device="meta")
    with gradviz.trace(model) as t:
        model(torch.randn(4, 3, device="meta")).sum().backward()
    assert set(t.verdicts) == {"weight", "bias"}
    assert "cannot be read" in t.verdicts["weight"].message  # no values: says what is known, not "finite"
    t.report()
    t.widget()


def test_vmap_of_grad_inside_a_trace_is_not_unused() -> None:
    model = nn.Linear(3, 1)
    x = torch.randn(4, 3)

    def loss_fn(params, xi):
        return functional_call(model, params, (xi[None],)).pow(2).sum()

    with gradviz.trace(model) as t:
        per_sample = vmap(grad(loss_fn), in_dims=(None, 0))(dict(model.named_parameters()), x)
    assert model.weight.grad is None and _state(per_sample["weight"]) == "nonzero"
    for name in ("weight", "bias"):
        assert t.verdicts[name].cause == "ok" and "returned" in t.verdicts[name].message


def test_a_non_leaf_tensor_that_keeps_no_grad_is_not_unused() -> None:
    w = torch.randn(3, requires_grad=True)
    h = w * 2.0
    seen = []
    h.register_hook(lambda g: seen.append(_state(g)))  # plain torch: a gradient does flow through h
    with gradviz.trace({"h": h}) as t:
        (h**2).sum().backward()
    assert seen == ["nonzero"]
    v = t.verdicts["h"]
    assert v.cause == "ok" and "retain_grad" in v.message


def test_a_lazy_module_is_traced_on_its_first_call() -> None:
    model = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.trace(model, optimizer=opt) as t:
        model(torch.randn(3, 5)).sum().backward()
    # the lazy weight is materialised in place: the optimizer holds that very tensor, and it learns
    assert _state(model[0].weight.grad) == "nonzero"
    assert t.verdicts["0.weight"].cause == "ok"


class _Eval(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8))

    def forward(self, x):
        return self.body(x)


def test_modules_run_by_another_thread_do_not_enter_the_traced_module_path() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    other = _Eval()
    stop = threading.Event()

    def evaluate() -> None:  # a background evaluation loop, as a notebook or a trainer runs one
        with torch.no_grad():
            while not stop.is_set():
                other(torch.randn(4, 8))

    worker = threading.Thread(target=evaluate, daemon=True)
    worker.start()
    try:
        own = {"", "0", "1", "2"}
        foreign = 0
        for _ in range(100):
            with gradviz.trace(model) as t:
                model(torch.randn(16, 8)).pow(2).mean().backward()
            foreign += any(op.module not in own for op in t.capture.ops)
    finally:
        stop.set()
        worker.join()
    assert foreign == 0, f"{foreign} of 100 traces attributed ops to modules of another thread"


_LIBRARY = """
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        h = self.proj(x)
        return h.detach()  # the library's own cut


@torch.no_grad()
def embed(layer, x):
    return layer(x)
"""


def _library(tmp_path, monkeypatch):
    """A module installed in a site-packages folder: library code, not the user's."""
    site = tmp_path / "lib" / "python3" / "site-packages" / "fakelib"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text(_LIBRARY)
    monkeypatch.syspath_prepend(str(site.parent))
    import importlib

    return importlib.import_module("fakelib")


def test_a_cut_inside_a_library_points_at_the_users_call_and_names_the_library_line(tmp_path, monkeypatch):
    lib = _library(tmp_path, monkeypatch)
    model = nn.ModuleDict({"enc": lib.Encoder(), "head": nn.Linear(4, 1)})
    truth = copy.deepcopy(model)
    truth["head"](truth["enc"](torch.ones(2, 4))).sum().backward()
    assert truth["enc"].proj.weight.grad is None
    with gradviz.trace(model) as t:
        out = model["head"](model["enc"](torch.ones(2, 4)))  # the user's line
        out.sum().backward()
    v = t.verdicts["enc.proj.weight"]
    assert v.cause == "detach"
    line = _line('out = model["head"](model["enc"]')
    assert v.where.endswith(f"test_real_sessions.py:{line}")
    assert "library code" in v.message and "fakelib/__init__.py:13" in v.message


def test_no_grad_inside_a_library_function_points_at_the_users_call(tmp_path, monkeypatch):
    lib = _library(tmp_path, monkeypatch)
    model = nn.ModuleDict({"enc": nn.Linear(4, 4), "head": nn.Linear(4, 1)})
    with gradviz.trace(model) as t:
        h = lib.embed(model["enc"], torch.ones(2, 4))  # the call into the library
        model["head"](h).sum().backward()
    v = t.verdicts["enc.weight"]
    assert v.cause == "no_grad"
    line = _line("h = lib.embed(model[")
    assert v.where.endswith(f"test_real_sessions.py:{line}")


def _line(start: str) -> int:
    with open(__file__) as f:
        return next(i for i, line in enumerate(f, 1) if line.strip().startswith(start))
