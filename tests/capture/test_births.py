"""Where NaN/Inf are born: only births that explain something are kept, and each points at its op.

The scenario corpus checks cause, line and message of each birth against plain torch; these tests check
the records behind them (the graph node a birth is drawn on, what is kept) and cases the corpus format
cannot hold.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

import gradviz


class CausalAttention(nn.Module):
    def __init__(self, d: int = 8) -> None:
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        causal = torch.ones(len(x), len(x), dtype=torch.bool).triu(1)
        scores = scores.masked_fill(causal, float("-inf"))  # an Inf on purpose
        return scores.softmax(-1) @ v


def test_an_inf_mask_that_softmax_turns_into_zero_is_not_a_birth() -> None:
    model = CausalAttention()
    x = torch.randn(6, 8)
    with gradviz.trace(model) as t:
        loss = model(x).pow(2).mean()
        loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(model.qkv.weight.grad).all()  # plain torch: healthy
    assert t.capture.births == []  # nothing to draw in purple
    assert all(v.cause == "ok" for v in t.verdicts.values())


def test_a_forward_birth_is_drawn_on_the_node_its_op_made() -> None:
    w = torch.tensor([1.0, 0.5, 3.0], requires_grad=True)
    with gradviz.trace({"w": w}) as t:
        torch.sqrt(w - 2).sum().backward()
    assert not torch.isfinite(w.grad).all()
    (birth,) = t.capture.births
    assert birth.phase == "forward" and birth.kind == "nan" and birth.op_name == "sqrt"
    node = next(n for n in t.capture.graph if n.id == birth.node)
    assert node.name == "SqrtBackward0"
    assert t.verdicts["w"].cause == "nonfinite"


def test_an_in_place_op_can_be_the_birthplace() -> None:
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    with gradviz.trace({"w": w}) as t:
        h = w * 1.0
        h.log_()  # the birth
        loss = h.sum()
        loss.backward()
    assert not torch.isfinite(loss) and torch.isfinite(w.grad).all()  # a NaN loss, finite gradients
    v = t.verdicts["w"]
    assert v.cause == "nonfinite" and "forward of log_" in v.message
    assert v.where.endswith(f":{_line('h.log_()')}")


def test_nan_in_the_data_is_said_to_come_from_outside() -> None:
    model = nn.Linear(3, 1)
    x = torch.randn(4, 3)
    x[2, 1] = float("nan")  # a corrupt sample in the batch
    with gradviz.trace(model) as t:
        F.mse_loss(model(x), torch.zeros(4, 1)).backward()
    assert not torch.isfinite(model.weight.grad).all()
    v = t.verdicts["weight"]
    assert v.cause == "nonfinite" and "came in from outside" in v.message
    assert "isfinite" in v.fix


def test_a_parameter_spoiled_by_an_earlier_step_is_named() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1))
    with torch.no_grad():
        model[0].weight[1, 2] = float("nan")  # what a bad update leaves behind
    with gradviz.trace(model) as t:
        F.mse_loss(model(torch.randn(4, 3)), torch.zeros(4, 1)).backward()
    assert not torch.isfinite(model[2].weight.grad).all()
    v = t.verdicts["2.weight"]
    assert v.cause == "nonfinite" and "the parameter 0.weight already held NaN" in v.message


def test_a_full_precision_overflow_is_born_where_the_values_outgrew_float32() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 1))
    with torch.no_grad():
        for layer in model:
            layer.weight.fill_(1e13)  # an exploding network: the third linear overflows to Inf
    x = torch.ones(2, 4)
    with gradviz.trace(model) as t:
        h = model(x)  # the overflow
        torch.log_softmax(h, 0).sum().backward()
    with torch.no_grad():
        assert torch.isfinite(model[1](model[0](x))).all() and not torch.isfinite(h).all()
    v = t.verdicts["0.weight"]
    assert v.cause == "nonfinite" and "by overflow" in v.message and "linear" in v.message
    assert v.where.endswith(f":{_line('h = model(x)')}")
    assert "lower the learning rate" in v.fix


def _line(code: str) -> int:
    with open(__file__) as f:
        return next(i for i, line in enumerate(f, 1) if line.strip().startswith(code))


class _Rebuilt(nn.Module):
    """An Inf born in log (of data with a repeated row), whose values leave torch or are copied into a new
    tensor before the head: each way of rebuilding them."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.log((x - x.flip(0)).abs())  # the middle row is 0: log(0) = -Inf
        if self.how == "list of 0-d tensors":
            r = torch.tensor(list(h.flatten())).view(3, 4)
        elif self.how == "tolist":
            r = x.new_tensor(h.tolist())
        elif self.how == "numpy, shared memory":
            r = torch.from_numpy(h.numpy())
        elif self.how == "numpy copy":
            r = torch.from_numpy(h.numpy().copy())
        elif self.how == "numpy function":
            r = torch.as_tensor(np.abs(h.numpy()) * 2)
        elif self.how == "item per value":
            r = torch.tensor([[h[i, j].item() for j in range(4)] for i in range(3)])
        else:
            r = torch.stack(list(h))
        return self.head(r)


@pytest.mark.parametrize(
    "how",
    [
        "list of 0-d tensors",
        "tolist",
        "numpy, shared memory",
        "numpy copy",
        "numpy function",
        "item per value",
        "stack",
    ],
)
def test_an_inf_rebuilt_into_a_new_tensor_keeps_its_birth(how: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    plain = _Rebuilt(how)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.tensor of tensors that require grad warns, traced or not
        plain(x).pow(2).mean().backward()
        assert not torch.isfinite(plain.head.weight.grad).all()  # plain torch: the head's gradient is NaN
        model = _Rebuilt(how)
        with gradviz.trace(model) as t:
            model(x).pow(2).mean().backward()
    v = t.verdicts["head.weight"]
    assert v.cause == "nonfinite"
    (birth,) = t.capture.births
    assert (birth.phase, birth.op_name) == ("forward", "log")  # not the head, not "an input already held"
    assert birth.site is not None and "torch.log" in birth.site.code


class _Inner(nn.Module):
    def __init__(self, nan_inside: bool) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.nan_inside = nan_inside

    def forward(self, h):
        h = self.lin(h)
        return (h - h.flip(0)).abs().sqrt() if self.nan_inside else h  # sqrt's backward at 0: Inf


class _Checkpointed(nn.Module):
    def __init__(self, nan_inside: bool, reentrant: bool) -> None:
        super().__init__()
        self.u0 = nn.Linear(4, 4)
        self.u1 = _Inner(nan_inside)
        self.nan_inside, self.reentrant = nan_inside, reentrant

    def forward(self, x):
        h = checkpoint(self.u1, self.u0(x), use_reentrant=self.reentrant)
        return h if self.nan_inside else (h - h.flip(0)).abs() ** 0.5  # pow's backward at 0: Inf


@pytest.mark.parametrize("backwards", [1, 2])
@pytest.mark.parametrize("reentrant", [True, False])
@pytest.mark.parametrize("nan_inside", [False, True])
def test_a_nan_born_beside_a_checkpoint_is_found_for_the_parameters_inside_it(
    nan_inside: bool, reentrant: bool, backwards: int
) -> None:
    """The parameters inside a reentrant checkpoint are not in the recorded graph (their backward runs
    inside the checkpoint's): a NaN born above the checkpoint is that birth for them too; one born inside
    it is the checkpoint's own backward (the op inside is out of sight), never the loss's pow around it."""

    def step(model, x):
        for _ in range(backwards):
            model(x).pow(2).mean().backward()

    torch.manual_seed(0)
    x = torch.randn(3, 4)
    plain = _Checkpointed(nan_inside, reentrant)
    step(plain, x)
    assert not torch.isfinite(plain.u1.lin.weight.grad).all()  # plain torch: NaN inside the checkpoint too
    torch.manual_seed(0)
    model = _Checkpointed(nan_inside, reentrant)
    with gradviz.trace(model) as t:
        step(model, x)
    for name in ("u0.weight", "u1.lin.weight", "u1.lin.bias"):
        v = t.verdicts[name]
        assert v.cause == "nonfinite", name
    (birth,) = t.capture.births
    expected = "checkpoint" if nan_inside and reentrant else "sqrt" if nan_inside else "pow"
    assert (birth.phase, birth.op_name) == ("backward", expected)
    assert birth.site is not None
    assert {"checkpoint": "checkpoint(", "sqrt": ".sqrt()", "pow": "** 0.5"}[expected] in birth.site.code


class _SqrtOfDistance(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x):
        h = self.a(x)
        d = (h - h.flip(0)).pow(2).sum(-1).sqrt()  # the middle row against itself: sqrt's backward is Inf
        return self.b(h).sum() + d.sum()


_OPTIMIZERS = {
    "SGD": lambda p: torch.optim.SGD(p, lr=0.1),
    "Adam foreach": lambda p: torch.optim.Adam(p, foreach=True),
    "Adam for-loop": lambda p: torch.optim.Adam(p, foreach=False),
    "AdamW": lambda p: torch.optim.AdamW(p),
    "RMSprop": lambda p: torch.optim.RMSprop(p),
}


@pytest.mark.parametrize("optimizer", list(_OPTIMIZERS))
def test_weights_spoiled_by_a_step_inside_the_trace_keep_the_birth_of_the_gradient_that_spoiled_them(
    optimizer: str,
) -> None:
    """Step 1's NaN gradient (born in sqrt's backward) is written into the weights by the optimizer inside
    the same trace; step 2's forward is NaN everywhere. Every NaN is that one birth: not "the optimizer's
    add_ received NaN from outside", not "a parameter already held NaN"."""

    def steps(model, opt, x):
        for _ in range(2):
            opt.zero_grad()
            loss = model(x)
            loss.backward()
            opt.step()
        return loss

    torch.manual_seed(0)
    x = torch.randn(3, 4)
    plain = _SqrtOfDistance()
    loss = steps(plain, _OPTIMIZERS[optimizer](plain.parameters()), x)
    # plain torch: step 2's loss is NaN, and so are the gradients of a (b.bias's is finite: it helped
    # compute a NaN loss, which gradviz calls nonfinite too)
    assert not torch.isfinite(loss) and not torch.isfinite(plain.a.weight.grad).all()
    torch.manual_seed(0)
    model = _SqrtOfDistance()
    opt = _OPTIMIZERS[optimizer](model.parameters())
    with gradviz.trace(model, optimizer=opt) as t:
        steps(model, opt, x)
    assert {v.cause for v in t.verdicts.values()} == {"nonfinite"}
    (birth,) = t.capture.births
    assert (birth.phase, birth.op_name) == ("backward", "sqrt")


class _SharedScale(nn.Module):
    """One parameter on three paths; the first two meet the -Inf that log made of the data, the last (the
    latest in the forward, the first autograd runs) does not."""

    def __init__(self, functional: bool) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.rand(4) + 0.5)
        self.lin = nn.Linear(4, 4)
        self.functional = functional

    def forward(self, x):
        h = torch.log((x - x.flip(0)).abs())  # -Inf on the middle row
        if self.functional:
            h = torch.mul(torch.mul(h, self.w), self.w)
            g = torch.tanh(torch.mul(self.lin(x), self.w))
        else:
            h = h * self.w
            h = h * self.w
            g = torch.tanh(self.lin(x) * self.w)
        return (h + g).abs().sum()


@pytest.mark.parametrize("functional", [False, True])
def test_a_shared_parameter_gets_the_forward_birth_of_the_path_that_carried_the_inf(functional: bool) -> None:
    """Every path sends a finite gradient into its op's backward; the one whose forward took the -Inf
    multiplies by it there. The birth is that forward one (log), not the backward of whichever path
    autograd ran first."""
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    plain = _SharedScale(functional)
    plain(x).backward()
    assert not torch.isfinite(plain.w.grad).all()  # plain torch: the shared weight's gradient is not finite
    model = _SharedScale(functional)
    with gradviz.trace(model) as t:
        model(x).backward()
    assert t.verdicts["w"].cause == "nonfinite"
    (birth,) = t.capture.births
    assert (birth.phase, birth.op_name) == ("forward", "log")


class _InfThenNaN(nn.Module):
    """An Inf born in one op turns into NaN in a later one (inf - inf, inf * 0): the NaN is that Inf's."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.how = how

    def forward(self, x):
        if self.how == "fp16 overflow, then a mean":
            h = (x.half() * 1e5).float()  # +Inf and -Inf in half precision, no NaN
            return h.mean() * self.lin(x).sum()  # the mean is NaN (inf - inf)
        if self.how == "log of 0, then a difference":
            h = torch.log((x - x.flip(0)).abs())  # -Inf on the middle row
            return self.lin(h - h.flip(1)).sum()
        h = torch.exp(x * 100)  # +Inf where x > 0.9
        return self.lin(h * (x > 10).float()).sum()  # Inf * 0 = NaN


@pytest.mark.parametrize(
    ("how", "op"),
    [
        ("fp16 overflow, then a mean", "mul"),
        ("log of 0, then a difference", "log"),
        ("exp, then times 0", "exp"),
    ],
)
def test_a_nan_made_of_an_earlier_inf_is_born_where_the_inf_was(how: str, op: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    plain = _InfThenNaN(how)
    plain(x).backward()
    assert not torch.isfinite(plain.lin.weight.grad).all()  # plain torch: NaN/Inf gradient
    model = _InfThenNaN(how)
    with gradviz.trace(model) as t:
        model(x).backward()
    assert t.verdicts["lin.weight"].cause == "nonfinite"
    (birth,) = t.capture.births
    assert (birth.phase, birth.op_name) == ("forward", op)


@pytest.mark.parametrize("reentrant", [True, False])
def test_a_forward_nan_that_enters_a_checkpoint_keeps_its_birth_inside_it(reentrant: bool) -> None:
    """An Inf born before a checkpointed block (fp16 overflow) flows into it: the block's parameters get
    that birth, not "born inside the checkpoint's backward"."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pre = nn.Linear(4, 4)
            self.inner = nn.Linear(4, 4)

        def forward(self, x):
            h = (self.pre(x).half() * 1e6).float()  # +-Inf in half precision
            return checkpoint(self.inner, h, use_reentrant=reentrant)

    torch.manual_seed(0)
    x = torch.randn(3, 4)
    plain = Net()
    plain(x).abs().sum().backward()
    assert not torch.isfinite(plain.inner.weight.grad).all()  # plain torch: NaN/Inf gradient
    model = Net()
    with gradviz.trace(model) as t:
        model(x).abs().sum().backward()
    assert t.verdicts["inner.weight"].cause == "nonfinite"
    births = {(b.phase, b.op_name) for b in t.capture.births}
    assert births == {("forward", "mul")}


def test_a_parameter_also_used_inside_a_reentrant_checkpoint_gets_the_birth_on_the_unseen_path() -> None:
    """The layer runs twice: inside a reentrant checkpoint (its graph is not recorded) and directly. The
    NaN is born in the backward of an fp16 multiply after the checkpoint and reaches the layer only through
    it; the direct path, the one the graph shows, is finite. The birth is the fp16 multiply's backward, not
    the direct use's linear. Found by the fuzzer (seed 123457, program 12294)."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pre = nn.Parameter(torch.randn(4, 4) * 0.5)
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            h = checkpoint(self.lin, F.linear(x, self.pre), use_reentrant=True)
            h = (h.half() * 3000).float()  # its backward overflows half precision
            return h + torch.sigmoid(self.lin(x))

    torch.manual_seed(0)
    x = torch.randn(3, 4)
    plain = Net()
    plain(x).pow(2).mean().backward()
    assert not torch.isfinite(plain.lin.weight.grad).all()  # plain torch: NaN/Inf
    torch.manual_seed(0)
    model = Net()
    with gradviz.trace(model) as t:
        model(x).pow(2).mean().backward()
    assert t.verdicts["lin.weight"].cause == "nonfinite"
    births = {(b.phase, b.op_name) for b in t.capture.births}
    assert births == {("backward", "mul")}


def test_a_nan_that_comes_back_into_torchscript_keeps_its_birth() -> None:
    """An Inf born in log, copied through numpy, then given straight to a TorchScript module (its ops are
    out of sight): what comes out carries the same birth. Found by the fuzzer (seed 123457, program 6206)."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, h):
            return torch.tanh(self.lin(h))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pre = nn.Linear(4, 4)
            with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; models still use it
                warnings.simplefilter("ignore", DeprecationWarning)
                self.block = torch.jit.script(Block())

        def forward(self, x):
            h = self.pre(torch.log(x.tanh() - 1.5))  # log of a negative number: NaN
            return self.block(torch.from_numpy(h.detach().numpy().copy())) + self.block(x)

    torch.manual_seed(0)
    x = torch.randn(3, 4)
    plain = Net()
    plain(x).pow(2).mean().backward()
    assert not torch.isfinite(plain.block.lin.weight.grad).all()  # plain torch: NaN
    torch.manual_seed(0)
    model = Net()
    with gradviz.trace(model) as t:
        model(x).pow(2).mean().backward()
    assert t.verdicts["block.lin.weight"].cause == "nonfinite"
    births = {(b.phase, b.op_name) for b in t.capture.births}
    assert births == {("forward", "log")}


def test_an_fp16_backward_overflow_beside_a_checkpoint_is_born_in_the_half_op() -> None:
    """The encoder's output feeds a layer norm whose fp16 multiply overflows in its backward, and a block
    under a reentrant checkpoint (the encoder's values flow into code out of sight). The NaN is born in
    the half multiply's backward — a seen op that can overflow in half precision — not inside the
    checkpoint. Found by the fuzzer (seed 123457, program 1273)."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.Linear(4, 4)
            self.norm = nn.LayerNorm(4)
            self.block = nn.Linear(4, 4)
            self.scale = nn.Parameter(torch.full((4,), 1.5))

        def forward(self, x):
            h = torch.tanh(self.enc(x))
            big = (self.norm(h).half() * 3000).float()  # its backward overflows half precision
            return big + checkpoint(self.block, h, use_reentrant=True) * self.scale

    torch.manual_seed(0)
    x = torch.randn(3, 4)
    plain = Net()
    plain(x).pow(2).sum().backward()
    assert not torch.isfinite(plain.enc.weight.grad).all()  # plain torch: NaN/Inf
    torch.manual_seed(0)
    model = Net()
    with gradviz.trace(model) as t:
        model(x).pow(2).sum().backward()
    assert t.verdicts["enc.weight"].cause == "nonfinite"
    birth = t.capture.births[0]
    assert (birth.phase, birth.op_name) == ("backward", "mul") and "3000" in birth.site.code


@pytest.mark.parametrize("order", ["checkpoint first", "direct first"])
def test_a_parameter_used_inside_a_reentrant_checkpoint_and_directly_is_judged_by_its_summed_grad(
    order: str,
) -> None:
    """The layer's gradient arrives twice in one backward (the main graph's and the checkpoint's own
    backward): .grad is their sum, NaN from the direct path's sqrt at 0, never the finite one arrival.
    Found by the fuzzer (seed 27428, program 2244)."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pre = nn.Linear(4, 4)
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            inside = checkpoint(self.lin, self.pre(x), use_reentrant=True)
            direct = self.lin(x)
            d = torch.sqrt((direct - direct.flip(0)) ** 2)  # the middle row against itself: Inf backward
            return inside + d if order == "checkpoint first" else d + inside

    torch.manual_seed(0)
    x = torch.randn(3, 4)
    plain = Net()
    plain(x).pow(2).mean().backward()
    assert not torch.isfinite(plain.lin.weight.grad).all()  # plain torch: NaN
    torch.manual_seed(0)
    model = Net()
    with gradviz.trace(model) as t:
        model(x).pow(2).mean().backward()
    assert t.verdicts["lin.weight"].cause == "nonfinite"


class _SqrtDistance(nn.Module):
    """sqrt((h - h.flip(0)) ** 2) with a zero middle row: sqrt's backward is infinite there."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb, self.lin = nn.Embedding(5, 4), nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lin(torch.relu(x)) + self.emb(torch.arange(3))
        return x + self.emb(torch.arange(3)) + torch.sqrt((h - h.flip(0)) ** 2)


_SUBSETS = {
    "Tensor.backward(inputs=)": lambda loss, m: loss.backward(inputs=[m.emb.weight]),
    "autograd.backward(inputs=)": lambda loss, m: torch.autograd.backward(loss, inputs=[m.emb.weight]),
    "autograd.backward(inputs=) with the bias": lambda loss, m: torch.autograd.backward(
        loss, inputs=[m.emb.weight, m.lin.bias]
    ),
}


@pytest.mark.parametrize("how", list(_SUBSETS))
def test_a_birth_behind_nodes_whose_norm_a_subset_backward_did_not_report_is_found(how: str) -> None:
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    plain = _SqrtDistance()
    _SUBSETS[how](plain(x).abs().sum(), plain)
    assert not torch.isfinite(plain.emb.weight.grad).all()  # torch: the embedding's gradient is NaN/Inf
    m = _SqrtDistance()
    with gradviz.trace(m) as t:
        _SUBSETS[how](m(x).abs().sum(), m)
    v = t.verdicts["emb.weight"]
    assert v.cause == "nonfinite"
    birth = t.capture.births[t.capture.targets[0].birth]
    assert (birth.phase, birth.op_name) == ("backward", "sqrt") and "torch.sqrt" in birth.site.code


def test_a_nan_from_out_of_sight_is_born_at_the_node_whose_backward_ran_when_it_arrived() -> None:
    """Two reentrant checkpoints: the NaN/Inf arrives at the parameter while the first one's backward runs
    (the second's ran before it, clean). The birth is at the first's node and line, not at the latest
    node in the forward (checked against the order torch ran them in: the clock of the node hooks)."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.shared, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

        def block_a(self, h):
            y = self.shared(h.detach())
            return h + (y - y.detach()).sqrt()  # sqrt(0): Inf into `shared` only

        def forward(self, x):
            h = self.shared(x)
            h = checkpoint(self.block_a, h, use_reentrant=True)
            return checkpoint(lambda t: self.b(t).tanh(), h, use_reentrant=True)

    torch.manual_seed(0)
    model = Net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with gradviz.trace(model) as t:
            model(torch.randn(8, 4, requires_grad=True)).sum().backward()
    assert not torch.isfinite(model.shared.weight.grad).all() and torch.isfinite(model.b.weight.grad).all()
    cap = t.capture
    birth = cap.births[cap.targets[0].birth]
    node = next(n for n in cap.graph if n.id == birth.node)
    (first, second) = sorted((n for n in cap.graph if n.ran is not None), key=lambda n: n.seq)
    assert node is first  # made first in the forward, its backward ran last
    assert second.ran[1] < first.ran[0] < cap.targets[0].unseen_nonfinite_at < first.ran[1]
    assert birth.site is not None and "block_a" in birth.site.code
