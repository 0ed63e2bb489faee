"""The verdict rules (``gradviz.verdicts.decide``) on hand-built plain records: for every cause, the smallest
Capture that gives it, and the order in which the rules pick one cause over another (frozen and
unregistered first, then a gradient thrown away, then its value, then why none arrived).

No torch here: every record is built by hand with the ``make`` builders of this folder's conftest. The
default target is ``enc.weight``, index 0 (bit 1); lines are ``model.py:<line>``.
"""

from __future__ import annotations

import math

import pytest

from gradviz.records import (
    ERROR_KINDS,
    Cause,
    CutHow,
    ErrorKind,
    GradState,
    GraphNode,
    TensorSummary,
    Verdict,
)
from gradviz.verdicts import decide

W = "enc.weight"
BIT = 1  # enc.weight is target 0


def verdict(cap, name: str = W) -> Verdict:
    return decide(cap)[name]


def test_every_cause_has_a_test_below() -> None:
    """The causes this file builds: a new Cause needs its smallest capture here."""
    covered = {
        Cause.ok,
        Cause.frozen,
        Cause.unused,
        Cause.detach,
        Cause.data,
        Cause.no_grad,
        Cause.non_differentiable,
        Cause.escaped,
        Cause.checkpoint,
        Cause.unregistered,
        Cause.not_in_optimizer,
        Cause.not_requested,
        Cause.cleared,
        Cause.zero,
        Cause.nonfinite,
        Cause.error,
        Cause.unknown,
    }
    assert covered == set(Cause)


def test_unknown_when_gradviz_failed_says_only_the_final_grad(make) -> None:
    """NOTE [fail-safe]: a recording stopped by gradviz's own error decides nothing but frozen."""
    cap = make.capture(
        make.got(norm=1.0, grad_norm=1.0), failure="gradviz's module hooks failed (KeyError: 3)"
    )
    v = verdict(cap)
    assert v.cause is Cause.unknown and v.where is None
    assert "module hooks failed" in v.message and "finite, non-zero gradient" in v.message
    frozen = make.capture(make.target(requires_grad=False), failure="gradviz's module hooks failed")
    assert verdict(frozen).cause is Cause.frozen


# -- ok ---------------------------------------------------------------------------------------------------


def test_ok_a_finite_gradient_that_arrived_and_was_kept(make) -> None:
    v = verdict(make.capture(make.got(norm=1.5), backward_calls=1))
    assert v.cause is Cause.ok and v.ok and v.where is None and v.grad_norm == 1.5
    assert v.message == "enc.weight received a finite, non-zero gradient (norm 1.5)."
    assert v.fix == "Nothing to fix."


def test_ok_a_gradient_a_hook_consumed_during_backward_is_not_cleared(make) -> None:
    t = make.got(consumed=True, grad_state=GradState.none, grad_norm=None, norm=0.5)
    v = verdict(make.capture(t, backward_calls=1))
    assert v.cause is Cause.ok and v.where is None
    assert "which a hook took during backward" in v.message and v.fix == "Nothing to fix."


def test_not_requested_names_the_call_that_asked_for_other_inputs(make) -> None:
    call = make.site(30, "loss.backward(inputs=g_params)")
    t = make.target(reached=True, not_requested=call)
    v = verdict(make.capture(t, backward_calls=1))
    assert v.cause is Cause.not_requested and v.where == "model.py:30"
    assert "not asked for" in v.message and "inputs=" in v.fix


def test_a_cut_on_the_path_to_a_loss_beats_not_requested(make) -> None:
    """A gradient penalty: autograd.grad(out, x) reached the weights without asking for them, and the loss
    computed from its gradient (returned without create_graph) is cut from them: the cut is why."""
    call = make.site(24, "(g,) = torch.autograd.grad(out.sum(), x)")
    cut = make.cut(
        Cause.no_grad, BIT, 24, "(g,) = torch.autograd.grad(out.sum(), x)", how=CutHow.grad_without_graph
    )
    t = make.target(reached=True, not_requested=call)
    cap = make.capture(t, cuts=[cut], roots=[make.root(values=BIT, cuts=(0,))], backward_calls=2)
    v = verdict(cap)
    assert v.cause is Cause.no_grad and v.where == "model.py:24" and "create_graph=True" in v.fix


def test_ok_a_gradient_returned_by_autograd_grad_is_not_cleared(make) -> None:
    t = make.got(returned=True, grad_state=GradState.none, grad_norm=None, norm=0.5)
    v = verdict(make.capture(t, backward_calls=1))
    assert v.cause is Cause.ok and v.where is None
    assert "returned by autograd.grad / torch.func.grad instead of stored in .grad" in v.message
    assert "(norm 0.5)" in v.message


def test_ok_a_non_leaf_keeps_no_grad_and_is_not_cleared(make) -> None:
    t = make.got(is_leaf=False, grad_state=GradState.none, grad_norm=None, norm=0.5)
    v = verdict(make.capture(t, backward_calls=1))
    assert v.cause is Cause.ok
    assert v.message.startswith("enc.weight is not a leaf: a finite, non-zero gradient (norm 0.5) flows")
    assert "enc.weight.retain_grad()" in v.message


def test_ok_a_gradient_that_cannot_be_read(make) -> None:
    t = make.got(delivered=GradState.unknown, grad_state=GradState.unknown, norm=None)
    v = verdict(make.capture(t, backward_calls=1))
    assert v.cause is Cause.ok and v.where is None
    assert "its values cannot be read here" in v.message
    assert "gradviz cannot say whether it is finite and non-zero" in v.message
    assert v.fix == "Check it where its values exist."


def test_ok_a_gradient_that_arrived_before_the_step_raised(make) -> None:
    """Not ``failed``: the backward that raised owed it nothing (an earlier backward delivered it)."""
    cap = make.capture(make.got(), error=make.error(ErrorKind.graph_freed), backward_calls=2)
    assert verdict(cap).cause is Cause.ok


# -- NoGradField: reached, but no .grad to check -------------------------------------------------------------


def test_reached_and_no_backward_ran_is_ok_with_nothing_to_check(make) -> None:
    v = verdict(make.capture(make.target(reached=True), backward_calls=0))
    assert v.cause is Cause.ok and v.where is None
    assert v.message == "enc.weight reaches the output, but no backward() ran inside the trace."
    assert "inside the `with gradviz.trace(...)` block" in v.fix


def test_reached_non_leaf_after_a_backward_is_ok_without_a_grad_field(make) -> None:
    v = verdict(make.capture(make.target(reached=True, is_leaf=False), backward_calls=1))
    assert v.cause is Cause.ok
    assert v.message.startswith("enc.weight is not a leaf: a gradient flows through it")
    assert "its node's norm was not recorded" in v.message
    assert v.fix == "Nothing to fix."


def test_reached_in_a_watch_graph_is_ok_and_points_at_the_timeline(make) -> None:
    v = verdict(make.capture(make.target(reached=True), backward_calls=1, source="watch"))
    assert v.cause is Cause.ok
    assert "in the backward graph of the model's output" in v.message and "timeline" in v.message


def test_reached_leaf_that_a_backward_delivered_nothing_is_not_ok(make) -> None:
    v = verdict(make.capture(make.target(reached=True), backward_calls=1))
    assert v.cause is Cause.unused


# -- frozen, unregistered: first of all ----------------------------------------------------------------------


def test_frozen(make) -> None:
    v = verdict(make.capture(make.target(requires_grad=False, grad_norm=0.25), backward_calls=1))
    assert v.cause is Cause.frozen and v.where is None and v.grad_norm == 0.25
    assert v.message.startswith("enc.weight has requires_grad=False, so autograd never computes a gradient")
    assert "Its .grad still holds an old gradient (norm 0.25) from before it was frozen." in v.message
    assert "`model.enc.requires_grad_(True)`" in v.fix and v.fix.startswith("Nothing to fix if it is frozen")


def test_frozen_beats_everything(make) -> None:
    """Every other rule would fire on this target; frozen is named, and nothing else is said."""
    t = make.got(
        requires_grad=False,
        kind="unregistered",
        created=make.site(5),
        in_optimizer=False,
        replaced=True,
        failed=True,
        delivered=GradState.nonfinite,
        grad_state=GradState.none,
        grad_before=2.0,
    )
    cap = make.capture(
        t,
        cuts=[make.cut(Cause.detach, BIT, 12)],
        roots=[make.root(BIT, cuts=[0], nonfinite="nan")],
        clears=[make.clear(BIT, 20)],
        error=make.error(ErrorKind.inplace_saved),
        backward_calls=1,
    )
    v = verdict(cap)
    assert v.cause is Cause.frozen and v.where is None
    assert "from before the trace" not in v.message  # no stale-.grad sentence for a frozen tensor


def test_unregistered(make) -> None:
    t = make.target("blocks.0.weight", kind="unregistered", unregistered_how="list", grad_norm=0.5)
    v = verdict(make.capture(t, backward_calls=1), "blocks.0.weight")
    assert v.cause is Cause.unregistered and v.where is None
    assert v.message == (
        "blocks.0.weight belongs to a module kept in a plain Python list. It gets a gradient (norm 0.5), "
        "but it is not a registered parameter, so model.parameters() and the optimizer never see it."
    )
    assert v.fix == "Store those modules in an nn.ModuleList."


def test_unregistered_beats_created_and_error(make) -> None:
    t = make.target(kind="unregistered", created=make.site(5), in_optimizer=False, failed=True)
    cap = make.capture(t, error=make.error(ErrorKind.other), backward_calls=1)
    assert verdict(cap).cause is Cause.unregistered


# -- not_in_optimizer: created during the forward, or simply not held --------------------------------------


def test_not_in_optimizer_a_gradient_no_param_group_holds(make) -> None:
    v = verdict(make.capture(make.got(in_optimizer=False, norm=0.75), backward_calls=1))
    assert v.cause is Cause.not_in_optimizer and v.where is None
    assert v.message == (
        "enc.weight gets a gradient (norm 0.75), but no optimizer param group holds it, so it never changes."
    )
    assert "add a param group with it" in v.fix


def test_not_in_optimizer_created_during_the_forward(make) -> None:
    first_use = make.site(5, "y = self.lazy(x)")
    t = make.target(created=first_use, in_optimizer=False)
    v = verdict(make.capture(t, backward_calls=1))
    assert v.cause is Cause.not_in_optimizer and v.where == "model.py:5"
    assert v.message == (
        "enc.weight was created during the traced forward (first used at model.py:5 (`y = self.lazy(x)`)), "
        "after the optimizer was built: the optimizer does not hold it, so it never changes."
    )
    assert v.fix.startswith("Build the optimizer after the first forward")


def test_not_in_optimizer_replaced_on_every_call(make) -> None:
    """No optimizer given (``in_optimizer`` None): a Parameter made anew on every call is still lost."""
    t = make.got(created=make.site(5, "self.w = nn.Parameter(torch.randn(3))"), replaced=True)
    v = verdict(make.capture(t, backward_calls=1))
    assert v.cause is Cause.not_in_optimizer and v.where == "model.py:5"
    assert "is a new nn.Parameter created during the forward" in v.message
    assert "replaces the previous one on every call" in v.message
    assert v.fix == "Create the parameter once, in __init__, and only use it in forward()."


def test_created_without_an_optimizer_is_ok_with_a_warning(make) -> None:
    t = make.got(created=make.site(5, "y = self.lazy(x)"))
    v = verdict(make.capture(t, backward_calls=1))
    assert v.cause is Cause.ok
    assert "It was created during the traced forward (first used at model.py:5)" in v.message
    assert v.fix.startswith("Build the optimizer after the first forward")


def test_created_beats_error(make) -> None:
    t = make.target(created=make.site(5), in_optimizer=False, failed=True)
    cap = make.capture(t, error=make.error(ErrorKind.graph_freed), backward_calls=1)
    assert verdict(cap).cause is Cause.not_in_optimizer


def test_replaced_targets_get_no_verdict(make) -> None:
    cap = make.capture(make.target("old.w", kind="replaced"), make.got("new.w", 1), backward_calls=1)
    assert set(decide(cap)) == {"new.w"}


# -- cleared: it arrived, then was thrown away ---------------------------------------------------------------


def test_cleared_by_a_recorded_zero_grad(make) -> None:
    t = make.got(norm=2.0, grad_state=GradState.none, grad_norm=None)
    cap = make.capture(t, clears=[make.clear(BIT, 20, "opt.zero_grad()")], backward_calls=1)
    v = verdict(cap)
    assert v.cause is Cause.cleared and v.where == "model.py:20"
    assert v.message == (
        "enc.weight received a gradient (norm 2), then the call at model.py:20 (`opt.zero_grad()`) removed "
        "it before it was read."
    )
    assert "before zero_grad()" in v.fix


def test_cleared_names_the_last_clear_of_that_target(make) -> None:
    t = make.got(grad_state=GradState.none, grad_norm=None)
    clears = [make.clear(BIT, 20), make.clear(BIT, 22), make.clear(0b10, 25)]  # the last: another target
    other = make.got("head.weight", 1)
    v = verdict(make.capture(t, other, clears=clears, backward_calls=1))
    assert v.cause is Cause.cleared and v.where == "model.py:22"


def test_cleared_to_none_without_a_recorded_call(make) -> None:
    t = make.got(grad_state=GradState.none, grad_norm=None)
    v = verdict(make.capture(t, backward_calls=1))
    assert v.cause is Cause.cleared and v.where is None
    assert "then zero_grad() / setting .grad to None removed it before it was read." in v.message


def test_cleared_to_zero_by_a_recorded_zero_grad(make) -> None:
    t = make.got(grad_state=GradState.zero, grad_norm=0.0)
    v = verdict(make.capture(t, clears=[make.clear(BIT, 20, how="zeroed")], backward_calls=1))
    assert v.cause is Cause.cleared and v.where == "model.py:20"


def test_a_delivered_zero_gradient_kept_as_zero_is_not_cleared(make) -> None:
    t = make.got(delivered=GradState.zero, grad_state=GradState.zero, norm=0.0)
    v = verdict(make.capture(t, clears=[make.clear(BIT, 20, how="zeroed")], backward_calls=1))
    assert v.cause is Cause.zero


def test_cleared_beats_a_nonfinite_gradient(make) -> None:
    t = make.got(delivered=GradState.nonfinite, norm=math.nan, grad_state=GradState.none, grad_norm=None)
    t.birth = 0
    cap = make.capture(
        t,
        births=[make.birth("nan", "forward", "log", 9)],
        clears=[make.clear(BIT, 20, "opt.zero_grad()")],
        backward_calls=1,
    )
    v = verdict(cap)
    assert v.cause is Cause.cleared and v.where == "model.py:20"


# -- nonfinite ---------------------------------------------------------------------------------------------


def test_nonfinite_gradient_names_where_the_nan_was_born(make) -> None:
    t = make.got(delivered=GradState.nonfinite, grad_state=GradState.nonfinite, norm=math.nan, birth=0)
    log = make.birth("nan", "forward", "log", 9, "y = torch.log(h)", detail="from a negative input")
    v = verdict(make.capture(t, births=[log], backward_calls=1))
    assert v.cause is Cause.nonfinite and v.where == "model.py:9"
    assert v.message == (
        "enc.weight received a NaN gradient: the forward of log at model.py:9 (`y = torch.log(h)`) produced "
        "NaN from a negative input."
    )
    assert v.fix == "Clamp the input away from zero and negatives: `torch.log(x.clamp_min(1e-12))`."


def test_nonfinite_gradient_whose_birth_was_not_located(make) -> None:
    t = make.got(delivered=GradState.nonfinite, grad_state=GradState.nonfinite, norm=math.nan)
    v = verdict(make.capture(t, backward_calls=1))
    assert v.cause is Cause.nonfinite and v.where is None
    assert v.message.startswith("enc.weight received a NaN gradient; where it was born was not located")
    assert v.fix.startswith("Guard divisions, sqrt and log")


def test_an_infinite_gradient_reads_an_inf_gradient(make) -> None:
    t = make.got(delivered=GradState.nonfinite, grad_state=GradState.nonfinite, norm=math.inf)
    v = verdict(make.capture(t, backward_calls=1))
    assert v.cause is Cause.nonfinite
    assert v.message.startswith("enc.weight received an Inf gradient")


def test_a_nonfinite_loss_makes_its_finite_gradients_nonfinite(make) -> None:
    div = make.birth("inf", "forward", "div", 7, "r = a / b")
    cap = make.capture(
        make.got(norm=1.5),
        make.got("unrelated.weight", 1),
        roots=[make.root(BIT, nonfinite="inf", birth=0)],
        births=[div],
        backward_calls=1,
    )
    v = verdict(cap)
    assert v.cause is Cause.nonfinite and v.where == "model.py:7"
    assert v.message.startswith(
        "The loss is Inf, and enc.weight takes part in computing it: its gradient (norm 1.5) is finite but "
        "meaningless"
    )
    assert v.message.endswith("The forward of div at model.py:7 (`r = a / b`) produced Inf.")
    assert v.fix.startswith("Guard the denominator")
    # a target the loss's value does not depend on is not blamed for it
    assert verdict(cap, "unrelated.weight").cause is Cause.ok


def test_a_nonfinite_loss_without_a_located_birth(make) -> None:
    cap = make.capture(make.got(), roots=[make.root(BIT, nonfinite="nan")], backward_calls=1)
    v = verdict(cap)
    assert v.cause is Cause.nonfinite and v.where is None
    assert "The loss is NaN" in v.message and "Where it was born was not located." in v.message


def test_a_nonfinite_loss_beats_a_zero_gradient(make) -> None:
    t = make.got(delivered=GradState.zero, grad_state=GradState.zero, norm=0.0)
    cap = make.capture(t, roots=[make.root(BIT, nonfinite="nan")], backward_calls=1)
    assert verdict(cap).cause is Cause.nonfinite


# -- zero: why exactly zero, read from the graph's per-node norms -------------------------------------------


def zero_target(make, **fields):
    """enc.weight: the backward delivered a gradient that is exactly zero, to its AccumulateGrad "acc"."""
    fields = {"delivered": GradState.zero, "grad_state": GradState.zero, "norm": 0.0, "node": "acc", **fields}
    return make.got(**fields)


def through(make, node: str, op_name: str, code: str, outputs=((),)):
    """A capture whose loss reaches enc.weight only through ``node`` (op 1, model.py:14): ``node`` received
    a non-zero gradient and passed zero on to the linear (op 0, model.py:13) below it.

    loss (1.0) -> node (1.0) -> AddmmBackward0 (0.0) -> AccumulateGrad of enc.weight (0.0)
    """
    graph = [
        GraphNode("loss", "SumBackward0", ["src"], grad_norm=1.0),
        GraphNode("src", node, ["mm"], op=1, grad_norm=1.0),
        GraphNode("mm", "AddmmBackward0", ["acc"], op=0, grad_norm=0.0),
        GraphNode("acc", "AccumulateGrad", [], target=0, grad_norm=0.0),
    ]
    ops = [make.op(0, "linear", 13, "h = self.enc(x)"), make.op(1, op_name, 14, code, outputs=outputs)]
    return make.capture(zero_target(make), ops=ops, graph=graph, backward_calls=1)


@pytest.mark.parametrize(
    ("node", "op_name", "code", "words"),
    [
        (
            "ReluBackward0",
            "relu",
            "h = torch.relu(h)",
            "the relu at model.py:14 (`h = torch.relu(h)`) outputs 0 for every input of the batch: all 16 of "
            "its units are dead",
        ),
        (
            "HardtanhBackward0",
            "hardtanh",
            "h = F.hardtanh(h)",
            "the hardtanh at model.py:14 (`h = F.hardtanh(h)`) outputs 0 for every input",
        ),
        (
            "RoundBackward0",
            "round",
            "q = h.round()",
            "round at model.py:14 (`q = h.round()`) is a step function: its gradient is zero everywhere",
        ),
        ("SignBackward0", "sign", "s = h.sign()", "sign at model.py:14 (`s = h.sign()`) is a step function"),
        (
            "WhereBackward0",
            "where",
            "y = torch.where(m, a, h)",
            "where at model.py:14 (`y = torch.where(m, a, h)`) selects the other value at every position",
        ),
        (
            "MulBackward0",
            "mul",
            "y = h * mask",
            "the multiplication at model.py:14 (`y = h * mask`) scales it by a factor that is zero",
        ),
        (
            "SliceBackward0",
            "getitem",
            "y = h[:, :0]",
            "getitem at model.py:14 (`y = h[:, :0]`) passes back no gradient — the values computed from "
            "enc.weight are discarded there",
        ),
    ],
    ids=["relu", "hardtanh", "round", "sign", "where", "mul", "slice"],
)
def test_zero_mechanism_is_the_node_that_passed_zero_on(make, node, op_name, code, words) -> None:
    v = verdict(through(make, node, op_name, code, outputs=[(8, 16)]))
    assert v.cause is Cause.zero and v.where == "model.py:14"
    assert v.message.startswith("enc.weight received a gradient that is exactly zero everywhere: ")
    assert words in v.message


def test_zero_by_cancelling_paths(make) -> None:
    """f(w) - f(w): two live gradients meet at the AccumulateGrad and sum to zero."""
    graph = [
        GraphNode("loss", "SubBackward0", ["a", "b"], op=2, grad_norm=1.0),
        GraphNode("a", "MulBackward0", ["acc"], op=0, grad_norm=1.0),
        GraphNode("b", "MulBackward0", ["acc"], op=1, grad_norm=1.0),
        GraphNode("acc", "AccumulateGrad", [], target=0, grad_norm=0.0),
    ]
    ops = [make.op(0, "mul", 10, "a = w * x"), make.op(1, "mul", 11, "b = w * x"), make.op(2, "sub", 12)]
    v = verdict(make.capture(zero_target(make), ops=ops, graph=graph, backward_calls=1))
    assert v.cause is Cause.zero and v.where == "model.py:10"
    assert (
        "it reaches the loss by 2 paths (one through mul at model.py:10, one through mul at model.py:11) "
        "whose gradients add up to exactly zero where they meet again at model.py:12 (they cancel)"
    ) in v.message
    assert "f(x) - f(x)" in v.fix


def test_zero_by_cancelling_paths_is_where_the_parameter_is_used(make) -> None:
    """log_prob(rsample()) of a mean: where is the mean's line (first use), not where the paths meet."""
    graph = [
        GraphNode("loss", "SubBackward0", ["a", "b"], op=3, grad_norm=1.0),
        GraphNode("a", "MulBackward0", ["lin"], op=1, grad_norm=1.0),
        GraphNode("b", "AddBackward0", ["lin"], op=2, grad_norm=1.0),
        GraphNode("lin", "AddmmBackward0", ["acc"], op=0, grad_norm=0.0),
        GraphNode("acc", "AccumulateGrad", [], target=0, grad_norm=0.0),
    ]
    ops = [
        make.op(0, "linear", 9, "mean = self.mean_head(x)"),
        make.op(1, "mul", 11, "return d.log_prob(d.rsample())"),
        make.op(2, "add", 11, "return d.log_prob(d.rsample())"),
        make.op(3, "sub", 11, "return d.log_prob(d.rsample())"),
    ]
    t = zero_target(make)
    t.first_use = 0
    v = verdict(make.capture(t, ops=ops, graph=graph, backward_calls=1))
    assert v.cause is Cause.zero and v.where == "model.py:9"
    assert "from where it is used at model.py:9 (`mean = self.mean_head(x)`)" in v.message
    assert "one through mul at model.py:11, one through add at model.py:11" in v.message


def weight_graph(make, zero_name: str, target_name: str = W, numel: int = 16):
    """enc.weight @ <zero_name>.T at model.py:14, where <zero_name> (target 1) holds only zeros."""
    graph = [
        GraphNode("loss", "SumBackward0", ["mm"], grad_norm=1.0),
        GraphNode("mm", "MmBackward0", ["acc", "t"], op=0, grad_norm=1.0),
        GraphNode("t", "TBackward0", ["acc1"], grad_norm=1.0),
        GraphNode("acc1", "AccumulateGrad", [], target=1, grad_norm=2.0),
        GraphNode("acc", "AccumulateGrad", [], target=0, grad_norm=0.0),
    ]
    zeros = TensorSummary(
        shape=(4, 4) if numel else (0, 4), dtype="float32", device="cpu", numel=numel, norm=0.0
    )
    weight = make.got(zero_name, 1, norm=2.0, value=zeros)
    ops = [make.op(0, "matmul", 14, "y = h @ self.proj.weight.T")]
    target = zero_target(make, name=target_name)
    return make.capture(target, weight, ops=ops, graph=graph, backward_calls=1)


def test_zero_because_a_frozen_weight_is_all_zeros(make) -> None:
    cap = weight_graph(make, "proj.weight")
    cap.targets[1].requires_grad = False
    v = verdict(cap)
    assert v.cause is Cause.zero and v.where == "model.py:14"
    assert v.message == (
        "enc.weight received a gradient that is exactly zero everywhere: proj.weight is all zeros, and the "
        "matmul at model.py:14 (`y = h @ self.proj.weight.T`) multiplies the gradient flowing back to "
        "enc.weight by it; proj.weight is frozen, so it stays zero and enc.weight never learns."
    )
    assert v.fix.startswith("Initialise one of the two factors with non-zero values")


@pytest.mark.parametrize("zero_name", ["lora_B.default.weight", "up.weight", "proj"])
def test_a_zero_weight_that_learns_is_a_factor_starting_at_zero_whatever_its_name(make, zero_name) -> None:
    v = verdict(weight_graph(make, zero_name, "lora_A.default.weight"), "lora_A.default.weight")
    assert v.cause is Cause.zero and v.where == "model.py:14"
    assert f"{zero_name} is all zeros" in v.message
    assert f"{zero_name} gets a gradient of its own, so this step moves it" in v.message
    assert v.fix.startswith("Nothing to fix at the first step")


def test_an_empty_weight_is_not_an_all_zero_weight(make) -> None:
    v = verdict(weight_graph(make, "proj.weight", numel=0))
    assert v.cause is Cause.zero and "is all zeros" not in v.message
    assert "matmul at model.py:14 (`y = h @ self.proj.weight.T`) passes back no gradient" in v.message


@pytest.mark.parametrize("how", ["no node", "no norms", "no live ancestor"])
def test_zero_whose_mechanism_is_unknown(make, how) -> None:
    cap = through(make, "MulBackward0", "mul", "y = h * mask")
    if how == "no node":
        cap.targets[0].node = None
    elif how == "no norms":
        for node in cap.graph:
            node.grad_norm = None
    else:
        for node in cap.graph:
            node.grad_norm = 0.0
    v = verdict(cap)
    assert v.cause is Cause.zero and v.where is None
    assert "the per-node gradient norms that would locate it were not recorded" in v.message
    assert v.fix == "Trace with node_norms=True (the default) to find the op."


def test_zero_beats_not_in_optimizer(make) -> None:
    t = zero_target(make, in_optimizer=False)
    assert verdict(make.capture(t, backward_calls=1)).cause is Cause.zero


# -- cuts: no gradient arrived, and a cut explains why ----------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "op", "how", "code", "words", "fix"),
    [
        (
            Cause.detach,
            "detach",
            CutHow.op,
            "h = h.detach()",
            "its only path to the loss goes through .detach() at model.py:12 (`h = h.detach()`), which cuts "
            "the gradient",
            "remove the .detach() on that path",
        ),
        (
            Cause.data,
            "data",
            CutHow.op,
            "h = h.data",
            "its only path to the loss goes through .data at model.py:12 (`h = h.data`), which cuts the "
            "gradient silently",
            "use the tensor itself instead of .data",
        ),
        (
            Cause.no_grad,
            "linear",
            CutHow.op,
            "h = self.enc(x)",
            "its only path to the loss ran with gradient tracking off at model.py:12 (`h = self.enc(x)`)",
            "torch.no_grad() / inference_mode() block",
        ),
        (
            Cause.non_differentiable,
            "argmax",
            CutHow.op,
            "i = h.argmax(-1)",
            "its only path to the loss goes through argmax at model.py:12 (`i = h.argmax(-1)`), which has no "
            "gradient",
            "`F.gumbel_softmax(logits, tau=1.0, hard=True)`",
        ),
        (
            Cause.checkpoint,
            "linear",
            CutHow.reentrant,
            "h = checkpoint(self.enc, x)",
            "it runs inside a reentrant torch.utils.checkpoint at model.py:12 (`h = checkpoint(self.enc, "
            "x)`) "
            "whose inputs do not require grad, so the checkpoint output has no gradient",
            "use_reentrant=False",
        ),
    ],
    ids=["detach", "data", "no_grad", "non_differentiable", "checkpoint"],
)
def test_a_cut_on_the_loss_path_is_the_cause(make, kind, op, how, code, words, fix) -> None:
    cap = make.capture(
        make.target(),
        cuts=[make.cut(kind, BIT, 12, code, op=op, how=how)],
        roots=[make.root(BIT, cuts=[0])],
        backward_calls=1,
    )
    v = verdict(cap)
    assert v.cause is kind and v.where == "model.py:12"
    assert v.message == f"enc.weight gets no gradient: {words}."
    assert fix in v.fix


def test_escaped_is_the_cause_when_the_value_came_back_into_the_loss(make) -> None:
    """The value left torch (.item()) and came back into the loss: the loss's lineage holds the escape."""
    cap = make.capture(
        make.target(),
        cuts=[make.cut(Cause.escaped, BIT, 8, "s = h.sum().item()", op="item")],
        roots=[make.root(BIT, cuts=(0,))],
        escaped=BIT,
        escape_cuts=(0,),
        backward_calls=1,
    )
    v = verdict(cap)
    assert v.cause is Cause.escaped and v.where == "model.py:8"
    assert v.message == (
        "enc.weight gets no gradient: its value left torch through .item() at model.py:8 "
        "(`s = h.sum().item()`) and came back as a new tensor with no history."
    )
    assert v.fix.startswith("If it should learn: keep the computation in torch tensors")


def test_a_value_only_logged_with_item_is_unused_and_says_where_it_left(make) -> None:
    """Nothing came back: the loss does not depend on it (NOTE [escaped means it came back])."""
    used = make.op(0, "linear", 6, "a = self.aux(h)")
    cap = make.capture(
        make.target(first_use=0),
        cuts=[make.cut(Cause.escaped, BIT, 8, "log(a.mean().item())", op="item")],
        roots=[make.root(0)],
        escaped=BIT,
        escape_cuts=(0,),
        ops=[used],
        backward_calls=1,
    )
    v = verdict(cap)
    assert v.cause is Cause.unused and v.where is None
    assert (
        "left torch through .item() at model.py:8" in v.message and "for logging, that is fine" in v.message
    )


def test_a_cut_the_lineage_lost_track_of_still_explains(make) -> None:
    """The loss's value depends on the target, the root names no cut: any cut of the target explains it."""
    cap = make.capture(
        make.target(),
        cuts=[make.cut(Cause.detach, BIT, 12)],
        roots=[make.root(BIT)],
        backward_calls=1,
    )
    v = verdict(cap)
    assert (v.cause, v.where) == (Cause.detach, "model.py:12")


def test_a_retracted_cut_explains_nothing(make) -> None:
    """An autograd.Function attached a grad_fn after all: not a cut."""
    cap = make.capture(
        make.target(),
        cuts=[make.cut(Cause.no_grad, BIT, 12, how=CutHow.in_function, retracted=True)],
        roots=[make.root(BIT, cuts=[0])],
        backward_calls=1,
    )
    assert verdict(cap).cause is Cause.unused


def test_a_cut_of_another_target_explains_nothing(make) -> None:
    cap = make.capture(
        make.target(),
        make.target("head.weight", 1),
        cuts=[make.cut(Cause.detach, 0b10, 12)],
        roots=[make.root(0b11, cuts=[0])],
        backward_calls=1,
    )
    assert verdict(cap).cause is Cause.unused
    assert verdict(cap, "head.weight").cause is Cause.detach


@pytest.mark.parametrize(
    ("loser", "winner"),
    [
        (Cause.no_grad, Cause.detach),
        (Cause.non_differentiable, Cause.data),
        (Cause.checkpoint, Cause.escaped),
        (Cause.no_grad, Cause.checkpoint),
        (Cause.non_differentiable, Cause.no_grad),
    ],
    ids=lambda c: c.value,
)
def test_of_several_cuts_the_likeliest_mistake_is_named(make, loser, winner) -> None:
    """The cut listed first (model.py:10) is not the one named when a likelier mistake (model.py:20) also
    took the paths: an explicit detach before gradient-less code such as sampling under no_grad."""
    cap = make.capture(
        make.target(),
        cuts=[make.cut(loser, BIT, 10, op="op", index=0), make.cut(winner, BIT, 20, op="op", index=1)],
        roots=[make.root(BIT, cuts=[0, 1])],
        backward_calls=1,
    )
    v = verdict(cap)
    assert (v.cause, v.where) == (winner, "model.py:20")


# -- error ---------------------------------------------------------------------------------------------------


def test_error_a_backward_that_raised_owed_it_a_gradient(make) -> None:
    in_place = make.site(7, "h.mul_(2)")
    err = make.error(ErrorKind.inplace_saved, blame=in_place, blame_op="mul_")
    v = verdict(make.capture(make.target(failed=True), error=err, backward_calls=1))
    assert v.cause is Cause.error and v.where == "model.py:7"
    assert v.message == (
        "enc.weight got no gradient because the backward raised: the in-place op mul_ at model.py:7 "
        "(`h.mul_(2)`) modified a tensor autograd had saved for backward."
    )
    assert v.fix == ERROR_KINDS[ErrorKind.inplace_saved].fix


def test_error_failed_beats_a_gradient_an_earlier_backward_delivered(make) -> None:
    t = make.got(failed=True)
    cap = make.capture(t, error=make.error(ErrorKind.graph_freed), backward_calls=2)
    v = verdict(cap)
    assert v.cause is Cause.error and v.where == "model.py:30"  # no blame: the line that raised


def test_error_the_forward_raised_before_anything_arrived(make) -> None:
    raised = make.site(9, "y = self.head(h)")
    err = make.error(
        ErrorKind.other, "mat1 and mat2 shapes cannot be multiplied (4x3 and 5x2)", phase="forward", at=raised
    )
    v = verdict(make.capture(make.target(), error=err))
    assert v.cause is Cause.error and v.where == "model.py:9"
    assert v.message == (
        "enc.weight got no gradient because the forward raised: RuntimeError: mat1 and mat2 shapes cannot be "
        "multiplied (4x3 and 5x2) at model.py:9 (`y = self.head(h)`)."
    )


@pytest.mark.parametrize("kind", list(ErrorKind), ids=str)
def test_an_error_beats_a_cut_unless_the_cut_caused_it(make, kind) -> None:
    """A step that raised is why nothing arrived, whatever else is wrong; but "the loss has no grad_fn" is
    the symptom of a cut, and the cut is the answer."""
    cap = make.capture(
        make.target(),
        cuts=[make.cut(Cause.detach, BIT, 12, "h = h.detach()")],
        roots=[make.root(BIT, cuts=[0])],
        error=make.error(kind),
        backward_calls=1,
    )
    v = verdict(cap)
    if ERROR_KINDS[kind].caused_by_cut:
        assert (v.cause, v.where) == (Cause.detach, "model.py:12")
    else:
        assert (v.cause, v.where) == (Cause.error, "model.py:30")


def test_no_grad_root_without_a_cut_is_an_error(make) -> None:
    err = make.error(
        ErrorKind.no_grad_root, "element 0 of tensors does not require grad and does not have a grad_fn"
    )
    v = verdict(make.capture(make.target(), error=err, backward_calls=1))
    assert v.cause is Cause.error and v.where == "model.py:30"
    assert (
        "RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn at model.py:30 "
        "(`loss.backward()`)" in v.message
    )
    assert v.fix == ERROR_KINDS[ErrorKind.no_grad_root].fix


# -- unused -------------------------------------------------------------------------------------------------


def test_unused_never_used_in_the_forward(make) -> None:
    v = verdict(make.capture(make.target(), backward_calls=1))
    assert v.cause is Cause.unused and v.where is None
    assert v.message == "enc.weight was never used in the forward pass that produced the loss."
    assert "find_unused_parameters=True" in v.fix


def test_unused_used_but_nothing_from_it_reached_the_loss(make) -> None:
    cap = make.capture(
        make.target(first_use=1),
        ops=[make.op(0, "linear", 6), make.op(1, "linear", 7, "aux = self.enc(x)")],
        backward_calls=1,
    )
    v = verdict(cap)
    assert v.cause is Cause.unused and v.where is None
    assert v.message == "enc.weight was used at model.py:7, but nothing computed from it reached the loss."


def test_unused_without_a_backward(make) -> None:
    v = verdict(make.capture(make.target(), backward_calls=0))
    assert v.cause is Cause.unused
    assert v.message == "enc.weight did not take part in computing the model's output."


def test_unused_in_a_graph_only_capture_cannot_tell_cut_from_unused(make) -> None:
    v = verdict(make.capture(make.target(), source="graph", backward_calls=1))
    assert v.cause is Cause.unused
    assert "is not in the autograd graph of this loss" in v.message and "gradviz.diagnose cannot tell" in (
        v.message
    )


def test_a_zero_bias_is_not_blamed_for_a_zero_weight_gradient(make) -> None:
    """A conv or linear bias starts at zero and is added, not multiplied: it zeroes no gradient."""
    graph = [
        GraphNode("loss", "SumBackward0", ["mm"], grad_norm=1.0),
        GraphNode("mm", "AddmmBackward0", ["acc1", "acc"], op=0, grad_norm=1.0),
        GraphNode("acc1", "AccumulateGrad", [], target=1, grad_norm=2.0),
        GraphNode("acc", "AccumulateGrad", [], target=0, grad_norm=0.0),
    ]
    zeros = TensorSummary(shape=(4,), dtype="float32", device="cpu", numel=4, norm=0.0)
    bias = make.got("proj.bias", 1, norm=2.0, value=zeros)
    ops = [make.op(0, "linear", 14, "y = self.proj(h)")]
    v = verdict(make.capture(zero_target(make), bias, ops=ops, graph=graph, backward_calls=1))
    assert v.cause is Cause.zero and "is all zeros" not in v.message
