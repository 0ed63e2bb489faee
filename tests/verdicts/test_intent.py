"""How a tensor that does not learn meets the ones that do (``verdicts._intent``), on hand-built records: a
target (its values meet the trained ones' only in a comparison), a part the trained tensors learn through, a
part beside them; a straight-through estimator; a cut that keeps a target fixed."""

from __future__ import annotations

from gradviz.records import Cause, GradState, GraphNode, TensorSummary
from gradviz.verdicts import decide
from gradviz.verdicts._evidence import KeptFixed, StraightThrough
from gradviz.verdicts._intent import Intent
from gradviz.verdicts._paths import ZeroGraph


def two_branches(make, top: str, top_op: str, untrained_name: str = "target.weight"):
    """loss <- top(op 2) <- [linear q (op 0) <- q.weight, linear target (op 1) <- target.weight]."""
    graph = [
        GraphNode("loss", top, ["a", "b"], op=2, grad_norm=1.0),
        GraphNode("a", "MmBackward0", ["acc0"], op=0, grad_norm=1.0),
        GraphNode("b", "MmBackward0", ["acc1"], op=1, grad_norm=1.0),
        GraphNode("acc0", "AccumulateGrad", [], target=0, grad_norm=1.0),
        GraphNode("acc1", "AccumulateGrad", [], target=1, grad_norm=1.0),
    ]
    ops = [
        make.op(0, "linear", 10, "q = self.q(s)"),
        make.op(1, "linear", 11, "y = self.target(s2)"),
        make.op(2, top_op, 12, f"loss = {top_op}(q, y)"),
    ]
    trained = make.got("q.weight", 0, node="acc0", in_optimizer=True)
    untrained = make.got(untrained_name, 1, node="acc1", in_optimizer=False)
    return make.capture(trained, untrained, ops=ops, graph=graph, backward_calls=1)


def role(cap):
    return Intent(cap, ZeroGraph(cap)).role(cap.targets[1])


def test_a_tensor_that_meets_the_trained_ones_only_in_a_loss_is_a_target(make) -> None:
    r = role(two_branches(make, "MseLossBackward0", "mse_loss"))
    assert (r.kind, r.op, r.module, r.trained) == ("target", "mse_loss", "target", "q")
    assert r.site is not None and r.site.line == 12
    v = decide(two_branches(make, "MseLossBackward0", "mse_loss"))["target.weight"]
    assert v.cause is Cause.not_in_optimizer and v.where == "model.py:12"
    assert "`model.target.requires_grad_(False)`" in v.fix and "add it to the optimizer" not in v.fix


def test_a_difference_is_a_comparison_only_when_its_size_is_taken(make) -> None:
    cap = two_branches(make, "SubBackward0", "sub")
    assert role(cap).kind == "beside"  # q - y on its own is a feature, not a loss
    cap.graph.insert(0, GraphNode("sq", "PowBackward0", ["loss"], op=3, grad_norm=1.0))
    cap.ops = type(cap.ops)([*cap.ops, make.op(3, "pow", 12, "loss = (q - y) ** 2")])
    assert role(cap).kind == "target"


def test_a_tensor_used_by_the_op_the_trained_ones_go_through_is_passed_through(make) -> None:
    graph = [
        GraphNode("loss", "SumBackward0", ["d"], grad_norm=1.0),
        GraphNode("d", "MmBackward0", ["g", "t"], op=1, grad_norm=1.0),
        GraphNode("t", "TBackward0", ["acc1"], grad_norm=1.0),
        GraphNode("g", "MmBackward0", ["acc0"], op=0, grad_norm=1.0),
        GraphNode("acc0", "AccumulateGrad", [], target=0, grad_norm=1.0),
        GraphNode("acc1", "AccumulateGrad", [], target=1, grad_norm=1.0),
    ]
    ops = [make.op(0, "linear", 10, "fake = G(z)"), make.op(1, "linear", 11, "score = D(fake)")]
    g = make.got("G.weight", 0, node="acc0", in_optimizer=True)
    d = make.got("D.weight", 1, node="acc1", in_optimizer=False)
    cap = make.capture(g, d, ops=ops, graph=graph, backward_calls=1)
    r = role(cap)
    assert (r.kind, r.module, r.trained) == ("through", "D", "G")
    fix = decide(cap)["D.weight"].fix
    assert fix.startswith("If `D` is meant to stay fixed while G learns")
    assert fix.index("requires_grad_(False)") < fix.index("add its parameters to the optimizer")


def test_with_nothing_trained_there_is_no_role(make) -> None:
    cap = two_branches(make, "MseLossBackward0", "mse_loss")
    cap.targets[0].in_optimizer = False
    assert role(cap).kind == "beside"


def test_a_detached_difference_added_back_is_a_straight_through(make) -> None:
    """ops: 0 enc -> z, 1 lookup -> q, 2 sub (q - z), 3 detach, 4 add (z + ...); the codebook is lost."""
    ops = [
        make.op(0, "linear", 10, "z = self.enc(x)", outputs=[(4, 2)]),
        make.op(1, "embedding", 11, "q = self.codebook(i)", outputs=[(4, 2)]),
        make.op(2, "sub", 12, "zq = z + (q - z).detach()", outputs=[(4, 2)]),
        make.op(3, "detach", 12, "zq = z + (q - z).detach()", outputs=[(4, 2)]),
        make.op(4, "add", 12, "zq = z + (q - z).detach()", outputs=[(4, 2)]),
    ]
    ops[4].joins = (0,)
    cut = make.cut(Cause.detach, 0b11, 12, "zq = z + (q - z).detach()", op_index=3, source=2)
    graph = [
        GraphNode("loss", "SumBackward0", ["add"], grad_norm=1.0),
        GraphNode("add", "AddBackward0", ["enc"], op=4, grad_norm=1.0),
        GraphNode("enc", "MmBackward0", ["acc0"], op=0, grad_norm=1.0),
        GraphNode("acc0", "AccumulateGrad", [], target=0, grad_norm=1.0),
    ]
    enc = make.got("enc.weight", 0, node="acc0")
    codebook = make.target("codebook.weight", 1)
    cap = make.capture(
        enc, codebook, ops=ops, graph=graph, cuts=[cut], roots=[make.root(0b11, [0])], backward_calls=1
    )
    found = Intent(cap, ZeroGraph(cap)).cut_evidence(codebook, cut, [cut])
    assert isinstance(found, StraightThrough) and found.join is not None and found.join.line == 12
    v = decide(cap)["codebook.weight"]
    assert v.cause is Cause.detach and "straight-through" in v.message
    assert "`F.mse_loss(q, z.detach())`" in v.fix and "remove the .detach()" not in v.fix.lower()


def test_a_detach_that_only_feeds_a_comparison_keeps_a_target_fixed(make) -> None:
    cap = two_branches(make, "MseLossBackward0", "mse_loss")
    cap.graph[0].next = ["a"]  # the target's branch was detached: not in the graph
    del cap.graph[2], cap.graph[3]
    t = cap.targets[1]
    t.delivered, t.grad_state, t.grad_norm, t.node, t.in_optimizer = (
        GradState.none,
        GradState.none,
        None,
        None,
        None,
    )
    cap.ops[2].joins = (0,)
    cut = make.cut(Cause.detach, 0b10, 11, "y = self.target(s2).detach()", op_index=1)
    cap.cuts, cap.roots = [cut], [make.root(0b11, [0])]
    found = Intent(cap, ZeroGraph(cap)).cut_evidence(t, cut, [cut])
    assert isinstance(found, KeptFixed) and found.role.op == "mse_loss"
    v = decide(cap)["target.weight"]
    assert v.cause is Cause.detach and v.fix.startswith("Nothing to fix")


def test_a_part_also_run_under_no_grad_is_told_meant_to_stay_fixed(make) -> None:
    graph = [
        GraphNode("loss", "SumBackward0", ["d"], grad_norm=1.0),
        GraphNode("d", "MmBackward0", ["g", "t"], op=1, grad_norm=1.0),
        GraphNode("t", "TBackward0", ["acc1"], grad_norm=1.0),
        GraphNode("g", "MmBackward0", ["acc0"], op=0, grad_norm=1.0),
        GraphNode("acc0", "AccumulateGrad", [], target=0, grad_norm=1.0),
        GraphNode("acc1", "AccumulateGrad", [], target=1, grad_norm=1.0),
    ]
    quiet = make.op(2, "linear", 9, "real_score = D(real)")
    quiet.module, quiet.grad_enabled = "D", False
    ops = [make.op(0, "linear", 10, "fake = G(z)"), make.op(1, "linear", 11, "score = D(fake)"), quiet]
    g = make.got("G.weight", 0, node="acc0", in_optimizer=True)
    d = make.got("D.weight", 1, node="acc1", in_optimizer=False)
    v = decide(make.capture(g, d, ops=ops, graph=graph, backward_calls=1))["D.weight"]
    assert "`D` also runs under torch.no_grad() at model.py:9" in v.message
    assert v.fix.startswith("It looks meant to stay fixed: call `model.D.requires_grad_(False)`")


def test_a_comparison_alone_gives_both_readings_and_a_copy_makes_it_sure(make) -> None:
    cap = two_branches(make, "MseLossBackward0", "mse_loss")
    v = decide(cap)["target.weight"]
    assert "looks like a target" in v.message and "a second model that should learn too" in v.fix
    for t in cap.targets:  # the same names and shapes: a copy of the trained part (a target network)
        t.value = TensorSummary(shape=(4, 3), dtype="float32", device="cpu", numel=12, norm=1.0)
    v = decide(cap)["target.weight"]
    assert "`target` is a target" in v.message and "second model" not in v.fix
