"""The watch graph's root (issue 20): a model that computes its loss in its forward (a Hugging Face model
given labels) has its loss as the root of the graph, and the state says so (``timeline.loss_root``, which
the legend and the inspector read: js/STATE.md); a model whose loss is computed outside has its output as
the root, and the state names no loss. Truth from plain torch: the autograd node of the loss the model
returned (or of the output it returned), and whether the loss's node is in the graph at all."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import transformers as tf

import gradviz


def _root(graph: dict) -> dict:
    (root,) = [n for n in graph["nodes"] if n["kind"] == "loss"]
    return root


@pytest.mark.parametrize("accumulate", [False, True])
def test_a_tiny_hf_gpt2s_root_is_its_loss(accumulate):
    torch.manual_seed(0)
    config = tf.GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=2, n_head=2)
    model = tf.GPT2LMHeadModel(config)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    ids = torch.randint(64, (2, 8))
    # as the HF Trainer calls it with gradient accumulation: a summed loss divided by the token count
    kwargs = {"num_items_in_batch": torch.tensor(14)} if accumulate else {}
    with gradviz.watch(model, opt) as mon:
        loss = model(input_ids=ids, labels=ids, **kwargs).loss
        loss.backward()
        opt.step()
    truth = type(loss.grad_fn).__name__  # plain torch: the node of the loss the model returned
    assert truth == ("DivBackward0" if accumulate else "NllLossBackward0")
    state = mon._state()
    root = _root(state["graph"])
    assert root["label"] == truth  # the root of the graph is that loss
    assert state["timeline"]["loss_root"] == {"first": root["id"], "replay": None}


def test_a_plain_modules_root_is_its_output_and_the_loss_is_not_in_the_graph():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(5, 4), torch.randint(3, (5,))
    with gradviz.watch(model, opt) as mon:
        out = model(x)
        loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
    state = mon._state()
    labels = {n["label"] for n in state["graph"]["nodes"]}
    assert _root(state["graph"])["label"] == type(out.grad_fn).__name__  # the output's node
    assert type(loss.grad_fn).__name__ not in labels  # the loss (outside the model) is not drawn
    assert state["timeline"]["loss_root"] == {"first": None, "replay": None}


class _WithLoss(torch.nn.Module):
    """A model that returns its loss, as many training codes do (not only HF)."""

    def __init__(self, loss) -> None:
        super().__init__()
        self.net = torch.nn.Linear(4, 3)
        self.loss = loss

    def forward(self, x, y):
        return self.loss(self.net(x), y)


@pytest.mark.parametrize(
    "loss",
    [
        F.cross_entropy,
        lambda o, y: F.cross_entropy(o, y, label_smoothing=0.1),
        lambda o, y: F.mse_loss(o, F.one_hot(y, 3).float()),
        lambda o, y: F.binary_cross_entropy_with_logits(o, F.one_hot(y, 3).float()),
        lambda o, y: F.smooth_l1_loss(o, F.one_hot(y, 3).float()) * 0.5,
    ],
)
def test_a_module_returning_its_loss_has_it_as_root(loss):
    model = _WithLoss(loss)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(5, 4), torch.randint(3, (5,))
    with gradviz.watch(model, opt) as mon:
        out = model(x, y)
        out.backward()
        opt.step()
    state = mon._state()
    root = _root(state["graph"])
    assert root["label"] == type(out.grad_fn).__name__  # plain torch: the loss is the model's output
    assert state["timeline"]["loss_root"]["first"] == root["id"]
