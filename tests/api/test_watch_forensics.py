"""NaN forensics in watch: the first step whose gradient goes NaN/Inf is replayed under trace, before the
optimizer steps, and its births say where the NaN was born. Truth from plain torch: the same training
run without gradviz (its weights must come out bitwise equal: the replay never touches the training),
anomaly mode's culprit, and which step first had a non-finite gradient."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradviz


class Net(nn.Module):
    def __init__(self, p: float = 0.2) -> None:
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(8, 1)
        self.drop = nn.Dropout(p)

    def forward(self, x):
        h = self.drop(torch.relu(self.a(x)))
        d = (h[:4] - h[4:]).pow(2).sum(-1).sqrt()  # rows that match: sqrt's backward at 0 is Inf
        return self.b(h).squeeze(-1)[:4] + d


def _batches(n: int, bad: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    out = []
    for step in range(n):
        x = torch.randn(8, 4, generator=g)
        if step == bad:
            x[4:] = x[:4]
        out.append(x)
    return out


def _train(model, opt, batches, loss_fn=lambda out: out.pow(2).mean()):
    first = None
    for step, x in enumerate(batches):
        opt.zero_grad()
        loss_fn(model(x)).backward()
        if first is None and any(not torch.isfinite(p.grad).all() for p in model.parameters()):
            first = step
        opt.step()
    return first


@pytest.mark.parametrize("weights_every", [None, 1, 100])
def test_the_first_nan_step_is_replayed_and_training_is_untouched(weights_every) -> None:
    batches = _batches(8, bad=5)
    torch.manual_seed(0)
    plain = Net()
    plain_opt = torch.optim.SGD(plain.parameters(), lr=0.01)
    first = _train(plain, plain_opt, batches)  # plain torch: the step that first had a NaN gradient
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    mon = gradviz.watch(model, opt, weights_every=weights_every, forensics=True)
    assert _train(model, opt, batches) == first == 5
    mon.close()
    for p, q in zip(plain.parameters(), model.parameters(), strict=True):  # bitwise: nothing changed
        assert (
            torch.equal(
                p,
                q,
            )
            or (torch.isnan(p).all() and torch.isnan(q).all())
            or torch.equal(torch.nan_to_num(p), torch.nan_to_num(q))
        )
    f = mon.first_nonfinite
    assert f is not None and f.step == first and f.trace is not None and not f.from_loss
    (birth,) = f.trace.capture.births
    assert (birth.phase, birth.op_name) == ("backward", "sqrt") and ".sqrt()" in birth.site.code
    assert set(f.parameters) <= {n for n, _ in model.named_parameters()} and f.parameters
    assert "the backward of sqrt" in repr(f)


def test_a_nan_made_by_the_loss_is_said_to_come_from_outside_the_model() -> None:
    batches = _batches(6, bad=-1)

    def loss_fn(out):  # sqrt of a negative prediction: NaN in the loss and its gradient, outside the model
        return torch.sqrt(out - 100).mean()

    torch.manual_seed(0)
    model = Net(p=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    mon = gradviz.watch(model, opt, weights_every=None, forensics=True)
    first = _train(model, opt, batches, loss_fn)
    mon.close()
    assert first is not None  # plain torch: a NaN gradient
    f = mon.first_nonfinite
    assert f is not None and f.step == first and f.from_loss
    assert "the loss" in f.birth()


def test_where_a_replay_is_impossible_it_says_why() -> None:
    batches = _batches(8, bad=5)
    torch.manual_seed(0)
    model = Net(p=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    mon = gradviz.watch(model, opt, weights_every=None, forensics=True)
    for x in batches:
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        x.mul_(0)  # the batch is reused in place before the step
        opt.step()
    mon.close()
    f = mon.first_nonfinite
    assert f is not None and f.step == 5 and f.trace is None
    assert "written in place" in f.reason


def test_forensics_is_armed_on_request_only() -> None:
    model = Net(p=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with gradviz.watch(model, opt, weights_every=None) as mon:
        _train(model, opt, _batches(7, bad=5))
    f = mon.first_nonfinite
    assert f is not None and f.step == 5 and f.trace is None and "forensics=True" in f.reason


def test_nothing_is_kept_when_all_stays_finite_and_hooks_go_with_close() -> None:
    model = Net(p=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    mon = gradviz.watch(model, opt, forensics=True)
    x = torch.randn(8, 4)
    opt.zero_grad()
    F.mse_loss(model(x), torch.zeros(4)).backward()
    opt.step()
    assert mon.first_nonfinite is None
    mon.close()
    assert not model._forward_pre_hooks and not model._forward_hooks
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import copy

        copy.deepcopy(model)


class _Attn(nn.Module):
    def __init__(self, d: int, n_head: int) -> None:
        super().__init__()
        self.n_head, self.qkv, self.proj = n_head, nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, keep):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / (C // self.n_head) ** 0.5
        att = att.masked_fill(~keep[:, None, None, :], float("-inf"))  # padding keys hidden
        att = F.softmax(att, dim=-1)  # a sequence that is all padding: a row of -inf, NaN
        x = x + self.proj((att @ v).transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.ln2(x))


class _PaddedGPT(nn.Module):
    """12 layers, hand-written attention with a key padding mask passed as a keyword."""

    def __init__(self, n_layer: int = 12, d: int = 32, vocab: int = 64, seq: int = 16) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq, d)
        self.blocks = nn.ModuleList(_Attn(d, 4) for _ in range(n_layer))
        self.head = nn.Linear(d, vocab)

    def forward(self, idx, keep=None):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x, keep)
        return self.head(x)


def gpt12_batches(steps: int = 62, empty_at: int = 60) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(tokens, key padding mask) per step; at step ``empty_at`` one sequence of the batch is all padding."""
    g = torch.Generator().manual_seed(3)
    batches = []
    for step in range(steps):
        idx = torch.randint(64, (4, 17), generator=g)
        keep = torch.ones(4, 16, dtype=torch.bool)
        keep[:, 12:] = False  # the usual padding
        if step == empty_at:
            keep[2] = False  # an empty sequence in the batch: every key hidden
        batches.append((idx, keep))
    return batches


def gpt12_run(model, opt, batches) -> int | None:
    """Train on ``batches``; the first step whose gradient was not finite, as plain torch sees it."""
    first = None
    for step, (idx, keep) in enumerate(batches):
        opt.zero_grad()
        logits = model(idx[:, :-1], keep=keep)
        F.cross_entropy(logits.flatten(0, 1), idx[:, 1:].flatten()).backward()
        if first is None and any(not torch.isfinite(p.grad).all() for p in model.parameters()):
            first = step
        opt.step()
    return first


def gpt12_make() -> tuple[_PaddedGPT, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = _PaddedGPT()
    return model, torch.optim.AdamW(model.parameters(), lr=1e-3)


def test_a_gpt12_that_goes_nan_at_step_60_from_a_fully_masked_row_names_the_softmax() -> None:
    batches = gpt12_batches()
    plain, plain_opt = gpt12_make()
    first = gpt12_run(plain, plain_opt, batches)
    assert first == 60  # plain torch
    model, opt = gpt12_make()
    with gradviz.watch(model, opt, forensics=True) as mon:
        assert gpt12_run(model, opt, batches) == 60
    f = mon.first_nonfinite
    assert f is not None and f.step == 60 and f.trace is not None and not f.from_loss
    births = f.trace.capture.births
    assert births and (births[0].phase, births[0].op_name) == ("forward", "softmax")
    assert "F.softmax(att, dim=-1)" in births[0].site.code and "masked entirely" in births[0].detail
    assert births[0].masked_by < 0  # nothing in the model hides it (the replay's own checks are not traced)
