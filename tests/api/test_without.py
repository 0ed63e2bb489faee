"""``Trace.without``: what one cut alone keeps from learning, against plain torch with the cut removed.

Each case is a step written once with a switch: ``cut=True`` is the code under test, ``cut=False`` the
same code with that cut replaced by an identity. gradviz traces the first and says which parameters would
be reached without the cut; plain torch runs the second on a copy of the same model and says which get a
``.grad``. Spellings: a module and its functional form, a weight shared across the cut, a ``no_grad``
helper, values rewrapped with ``torch.tensor``, two cuts in series, a hook on a Hugging Face model.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable

import pytest
import torch
from torch import nn

import gradviz
from gradviz.records import WhatIf

Step = Callable[[nn.Module, bool], torch.Tensor]


class Three(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.c = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 1)


X = torch.randn(6, 4)


def _module_detach(m: nn.Module, cut: bool) -> torch.Tensor:
    h = torch.tanh(m.a(X))
    h = h.detach() if cut else h
    return m.c(torch.tanh(m.b(h))).sum()


def _functional_detach(m: nn.Module, cut: bool) -> torch.Tensor:
    h = torch.nn.functional.linear(X, m.a.weight, m.a.bias)
    h = h.detach() if cut else h
    return torch.nn.functional.linear(h, m.c.weight).sum() + m.b(X).sum()


def _shared_across_the_cut(m: nn.Module, cut: bool) -> torch.Tensor:
    h = m.a(X)
    h = h.detach() if cut else h
    return m.c(m.a(h) + m.b(X)).sum()  # m.a is used after the cut too: it is reached either way


@torch.no_grad()
def _features(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return torch.relu(m.a(x))


def _no_grad_helper(m: nn.Module, cut: bool) -> torch.Tensor:
    h = _features(m, X) if cut else torch.relu(m.a(X))
    return m.c(m.b(h)).sum()


def _rewrapped(m: nn.Module, cut: bool) -> torch.Tensor:
    s, t = m.a(X).mean(), m.b(X).mean()
    with warnings.catch_warnings():  # torch warns about exactly this mistake ("converting a tensor ...")
        warnings.simplefilter("ignore", UserWarning)
        pair = torch.tensor([s, t]) if cut else torch.stack([s, t])
    return (pair * pair).sum() + m.c(X).sum()


def _two_in_series(m: nn.Module, cut: bool) -> torch.Tensor:
    h = m.a(X).detach() if cut else m.a(X)
    with torch.no_grad():  # stays: the encoder is still cut without the detach
        h = m.b(h)
    return m.c(h).sum()


CASES: dict[str, Step] = {
    "module": _module_detach,
    "functional": _functional_detach,
    "shared": _shared_across_the_cut,
    "no_grad helper": _no_grad_helper,
    "rewrapped": _rewrapped,
    "two in series": _two_in_series,
}


def _reached_by_torch(model: nn.Module, step: Step) -> set[str]:
    copy_ = copy.deepcopy(model)
    step(copy_, False).backward()
    return {n for n, p in copy_.named_parameters() if p.grad is not None}


def _check(model: nn.Module, step: Step, cut_kinds: tuple[str, ...]) -> WhatIf | None:
    torch_now = copy.deepcopy(model)
    step(torch_now, True).backward()
    reached_now = {n for n, p in torch_now.named_parameters() if p.grad is not None}
    with gradviz.trace(model) as t:
        step(model, True).backward()
    assert {n for n, v in t.verdicts.items() if v.grad_norm is not None} == reached_now
    groups = [c for c in t.capture.cuts if c.group == c.index and c.kind.value in cut_kinds]
    assert groups, [c.kind for c in t.capture.cuts]
    what = t.without(groups[0].index)
    said = set(what.reached) | reached_now
    assert said == _reached_by_torch(model, step), what.text()
    return what


@pytest.mark.parametrize("name", list(CASES))
def test_without_says_what_torch_reaches_with_the_cut_removed(name: str) -> None:
    what = _check(Three(), CASES[name], ("detach", "no_grad", "escaped"))
    assert what is not None
    if name == "two in series":
        assert what.reached == [] and set(what.still) == {"a.weight", "a.bias"}
        assert "gradients off" in what.still["a.weight"]
    elif name == "shared":
        assert what.reached == [] and not what.still  # reached now: nothing for the cut to keep away
    else:
        assert what.reached and "would be reached" in what.text()


def test_a_hook_that_detaches_inside_a_hugging_face_model() -> None:
    tf = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = tf.GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=2, n_head=2)
    model = tf.GPT2LMHeadModel(config)
    model.config.tie_word_embeddings = False
    ids = torch.randint(0, 64, (2, 8))

    def step(m: nn.Module, cut: bool) -> torch.Tensor:
        handle = m.transformer.h[0].register_forward_hook(
            lambda mod, args, out: (
                (out[0].detach(), *out[1:])
                if cut and isinstance(out, tuple)
                else (out.detach() if cut and isinstance(out, torch.Tensor) else out)
            )
        )
        try:
            return m(ids, labels=ids).loss
        finally:
            handle.remove()

    what = _check(model, step, ("detach",))
    assert what is not None and any(n.startswith("transformer.h.0.") for n in what.reached)


def test_what_has_no_identity_is_refused_with_the_reason() -> None:
    m = Three()
    with gradviz.trace(m) as t:
        k = m.a(X).argmax(-1)
        scale = m.b(X).mean().item()
        (m.c(X).squeeze(-1) * k * scale).sum().backward()
    kinds = {c.kind.value: c.index for c in t.capture.cuts}
    with pytest.raises(ValueError, match="has no gradient to let through"):
        t.without(kinds["non_differentiable"])
    with pytest.raises(ValueError, match="left torch"):
        t.without(kinds["escaped"])
    with pytest.raises(ValueError, match="no cut 99"):
        t.without(99)
    with pytest.raises(TypeError):
        t.without(1.5)  # type: ignore[arg-type]


def test_a_parameter_name_or_verdict_names_its_cut() -> None:
    m = Three()
    with gradviz.trace(m) as t:
        _module_detach(m, True).backward()
    by_name = t.without("a.weight")
    assert by_name.reached == ["a.weight", "a.bias"]
    assert t.without(t.verdicts["a.bias"]).cuts == by_name.cuts
    with pytest.raises(ValueError, match="not behind a cut"):
        t.without("c.weight")
    assert "Without the .detach()" in repr(by_name)


@pytest.mark.parametrize("name", ["module", "functional", "no_grad helper", "rewrapped", "two in series"])
def test_a_rerun_with_the_cut_removed_confirms_it(name: str) -> None:
    m = Three()
    with gradviz.trace(m) as t:
        CASES[name](m, True).backward()
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    grads = {n: p.grad.clone() if p.grad is not None else None for n, p in m.named_parameters()}
    cut = next(c for c in t.capture.cuts if c.group == c.index)
    state = torch.random.get_rng_state()
    what = t.without(cut.index, model=m, step=lambda copy_: CASES[name](copy_, True).backward())
    assert what.confirmed is not None and what.agrees, what.text()
    assert set(what.confirmed_reached or []) == set(what.lost) & _reached_by_torch(m, CASES[name])
    assert "(as said)" in what.text()
    # the user's model, gradients and random state are untouched
    assert torch.equal(torch.random.get_rng_state(), state)
    for n, p in m.named_parameters():
        assert torch.equal(p, before[n])
        assert (p.grad is None) == (grads[n] is None)


def test_a_rerun_that_cannot_remove_the_cut_says_so() -> None:
    m = Three()

    def step(model: nn.Module) -> None:
        with torch.inference_mode():
            h = model.a(X)
        model.c(model.b(h.clone())).sum().backward()

    with gradviz.trace(m) as t:
        step(m)
    cut = next(c for c in t.capture.cuts if c.group == c.index)
    what = t.without(cut.index, model=m, step=step)
    assert what.confirmed is None and what.agrees is None
    assert "nothing is confirmed" in what.text()
    with pytest.raises(TypeError, match="model="):
        t.without(cut.index, step=step)


def test_the_widget_state_carries_each_cut_markers_what_if() -> None:
    m = Three()
    with gradviz.trace(m) as t:
        _two_in_series(m, True).backward()
    graph = t.widget().graph
    params = {n["id"]: n["tensor"]["name"] for n in graph["nodes"] if n["kind"] == "param"}
    cuts = [n for n in graph["nodes"] if n["kind"] == "cut"]
    by_label = {n["label"].split(" — ")[0]: n["whatif"] for n in cuts}
    detach = by_label["✂ .detach()"]
    assert detach["removable"] and not detach["reached"]
    assert {params[i] for i in detach["still"]} == {"a.weight", "a.bias"}
    off = next(w for label, w in by_label.items() if "no_grad" in label)
    assert {params[i] for i in off["reached"]} == {"b.weight", "b.bias"} and "would be reached" in off["text"]
    m = Three()
    with gradviz.trace(m) as t:
        (m.c(X).sum() + m.a(X).argmax(-1).float().sum()).backward()
    (argmax,) = [n["whatif"] for n in t.widget().graph["nodes"] if n["kind"] == "cut"]
    assert argmax["removable"] is False and "no gradient to let through" in argmax["text"]
