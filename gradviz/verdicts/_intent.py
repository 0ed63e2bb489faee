"""What the code shows about intent, read from the recorded graph and ops, never from names of variables.

A tensor can be left out of training on purpose: a DQN target network or a distillation teacher whose
output is only the value the trained model must match; a discriminator during the generator's step or a
frozen backbone under a trained prompt, which the trained tensors learn *through*; the detached branch of a
straight-through estimator. The textbook fix for "no gradient" or "not in the optimizer" breaks those
designs, so the verdicts first ask how the tensor meets the ones that learn.
"""

from __future__ import annotations

from dataclasses import replace

from gradviz.records import Capture, Cause, Cut, GradState, GraphNode, Site, Target
from gradviz.verdicts._evidence import KeptFixed, Role, StraightThrough
from gradviz.verdicts._paths import ZeroGraph

# Forward ops that compare a prediction with the value it must match.
_COMPARE = frozenset(
    {
        "mse_loss",
        "l1_loss",
        "smooth_l1_loss",
        "huber_loss",
        "kl_div",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "cross_entropy",
        "nll_loss",
        "cosine_similarity",
        "cosine_embedding_loss",
        "pairwise_distance",
        "soft_margin_loss",
        "poisson_nll_loss",
        "gaussian_nll_loss",
        "margin_ranking_loss",
        "dist",
    }
)
# A difference is a comparison when what follows measures its size: (a - b) ** 2, |a - b|, ||a - b||.
_DIFF = frozenset({"sub", "rsub", "__sub__", "__rsub__"})
_SIZE_OF = (
    frozenset(
        {"pow", "__pow__", "square", "abs", "norm", "linalg_vector_norm", "mul", "__mul__", "mean", "sum"}
    )
    | _COMPARE
)
# The op that adds a straight-through branch back: x + branch, branch + x (or x - branch).
# Nodes that make a target out of an output: soft targets, a Bellman max, a chosen action's value.
_TARGET_MAKERS = (
    "SoftmaxBackward",
    "LogSoftmaxBackward",
    "SigmoidBackward",
    "MaxBackward",
    "AmaxBackward",
    "GatherBackward",
    "DivBackward",
)
_LOG_PROB = ("LogSoftmaxBackward", "LogBackward", "LogSigmoidBackward")
_VIEWS = ("TBackward", "ViewBackward", "TransposeBackward", "PermuteBackward", "ExpandBackward", "UnsafeView")
_REJOIN = frozenset({"add", "__add__", "__radd__", "sub", "__sub__", "__iadd__", "add_"})


class Intent:
    """The recorded graph, asked how a tensor that does not learn meets the tensors that do."""

    def __init__(self, cap: Capture, graph: ZeroGraph) -> None:
        self.cap = cap
        self.graph = graph
        # the tensors that learn: a gradient came and an optimizer holds them (or no optimizer was given)
        self.trained = 0
        for t in cap.targets:
            if t.requires_grad and t.delivered != GradState.none and t.in_optimizer is not False:
                self.trained |= t.bit
        self._below: dict[str, int] | None = None
        self._node_of_op: dict[int, GraphNode] | None = None

    # -- untrained tensors that get a gradient -----------------------------------------------------------

    def role(self, t: Target) -> Role:
        """How ``t``, which gets a gradient, meets the trained tensors on the way to the loss; with the line
        where its module also ran with gradients off, if it did (then it is meant to stay fixed)."""
        found = self._role(t)
        if found.kind == "target" or not found.module:
            return found
        quiet = next(
            (
                i
                for i, op in enumerate(self.cap.ops)
                if not op.grad_enabled and op.module and _within(op.module, found.module)
            ),
            -1,
        )
        return replace(found, quiet=self.cap.ops.user_site(quiet)) if quiet >= 0 else found

    def _role(self, t: Target) -> Role:
        module = self._module(t)
        trained = self.trained & ~t.bit
        if not trained or t.node is None or t.node not in self.graph.by_id:
            return Role("beside", module=module)
        below = self._bits_below()
        side = self._target_side(t, trained)
        if side is not None:
            return side
        users = {self.graph.op_of.get(p, -1) for p in self.graph.parents.get(t.node, ())}
        meet = None
        for parent, _ in self.graph.ancestors(t.node):
            if below.get(parent.id, 0) & trained:
                meet = parent
                break
        if meet is None:
            return Role("beside", module=module)
        op, site = self.graph.op_name(meet), self.graph.site_of(meet)
        others = self._short(below[meet.id] & trained)
        if self._compares(meet):
            mine = next((c for c in meet.next if below.get(c, 0) & t.bit), "")
            return Role("target", op, site, module, others, sure=self._target_like(t, module, mine))
        index = self.graph.op_of.get(meet.id, -1)
        inside = (
            bool(module) and 0 <= index < len(self.cap.ops) and _within(self.cap.ops[index].module, module)
        )
        if index in users or inside:
            return Role("through", op, site, module, others)
        if any(self._direct(child) & trained for child in meet.next):
            return Role("feeds", op, site, module, others)
        return Role("beside", op, site, module, others)

    def _target_side(self, t: Target, trained: int) -> Role | None:
        """The first comparison on the way to the loss where ``t`` is on one side only, and the other side
        carries trained tensors: ``t`` helps make the value they must match."""
        assert t.node is not None
        below = self._bits_below()
        for parent, _ in self.graph.ancestors(t.node):
            if len(parent.next) < 2 or not self._compares(parent):
                continue
            sides = [below.get(c, 0) for c in parent.next]
            mine = [bits for bits in sides if bits & t.bit]
            others = [bits for bits in sides if not bits & t.bit and bits & trained]
            if len(mine) == 1 and others:
                op, site = self.graph.op_name(parent), self.graph.site_of(parent)
                leaks = self._short(mine[0] & trained)
                module, side = self._module(t), parent.next[sides.index(mine[0])]
                sure = self._target_like(t, module, side)
                return Role("target", op, site, module, self._short(others[0] & trained), leaks, sure=sure)
        return None

    def _target_like(self, t: Target, module: str, side: str) -> bool:
        """More than a comparison says it is a target: it is a copy of a trained part (a target network, an
        EMA teacher: the same names and shapes), or its side turns outputs into targets (a softmax of a
        teacher's logits, the max of a Bellman target) before the comparison."""
        if self._twin(t, module):
            return True
        seen, frontier = 0, [side]
        while frontier and seen < 6:  # the few nodes just below the comparison on its side
            node = self.graph.by_id.get(frontier.pop(0))
            if node is None:
                continue
            seen += 1
            if node.name.startswith(_TARGET_MAKERS):
                return True
            frontier += node.next
        return False

    def _twin(self, t: Target, module: str) -> bool:
        """A trained module (or tensor) with the same parameter names and shapes as ``module`` (or ``t``)."""
        trained = [x for x in self.cap.targets if self.trained & x.bit and x.value is not None]
        if t.value is None:
            return False
        if not module:
            return any(x.value is not None and x.value.shape == t.value.shape for x in trained)

        def signature(prefix: str) -> list[tuple[str, tuple[int, ...]]] | None:
            found = [x for x in self.cap.targets if _within(x.name, prefix)]
            if any(x.value is None for x in found):
                return None
            return sorted((x.name[len(prefix) + 1 :], x.value.shape) for x in found if x.value is not None)

        mine = signature(module)
        if not mine:
            return False
        first = mine[0][0]
        others = {x.name[: -len(first) - 1] for x in trained if x.name.endswith("." + first)}
        return any(signature(other) == mine for other in others)

    # -- tensors whose every path was cut ----------------------------------------------------------------

    def cut_evidence(self, t: Target, cut: Cut, candidates: list[Cut]) -> KeptFixed | StraightThrough | None:
        """Evidence that the cut that took ``t``'s paths is a deliberate design (None: nothing says so)."""
        for c in [cut, *(c for c in candidates if c is not cut)]:
            straight = self._straight_through(t, c)
            if straight is not None:
                return straight
        role = self._kept_fixed(t, cut)
        return KeptFixed(cut, role) if role is not None else None

    def _kept_fixed(self, t: Target, cut: Cut) -> Role | None:
        """Past the cut, the values meet the trained tensors' only in a comparison: a target or a teacher."""
        joins = self.cap.ops.joined_at(cut.index)
        if not joins or not self.trained:
            return None
        node = self._node_at(min(joins))
        if node is None or not self._bits_below().get(node.id, 0) & self.trained:
            return None
        if not self._compares(node):
            return None
        others = self._short(self._bits_below()[node.id] & self.trained)
        return Role("target", self.graph.op_name(node), self.graph.site_of(node), self._module(t), others)

    def _straight_through(self, t: Target, cut: Cut) -> StraightThrough | None:
        """``x + (f(x) - x).detach()``: a detached difference added back to what it subtracted."""
        ops = self.cap.ops
        if cut.kind not in (Cause.detach, Cause.data) or not 0 <= cut.source < len(ops):
            return None
        source = ops[cut.source]
        if source.name not in _DIFF:
            return None
        joins = ops.joined_at(cut.index)
        if not joins:
            return None
        first = min(joins)
        join = ops[first]
        if join.name not in _REJOIN or join.outputs[:1] != source.outputs[:1]:
            return None
        node = self._node_at(first)
        if node is None:
            return None
        kept = self._bits_below().get(node.id, 0)
        if not kept & cut.lost or kept & t.bit:
            return None  # the sum keeps no gradient to what f(x) - x came from, or still reaches t
        return StraightThrough(cut, ops.user_site(first), self._misplaced(t, cut, joins))

    def _misplaced(self, t: Target, cut: Cut, joins: list[int]) -> Site | None:
        """A comparison of the straight-through output with a detached value that does not come from ``t``
        (``mse(z + (q - z).detach(), z.detach())``): a loss meant for ``t`` computed on the wrong side."""
        for index in sorted(joins)[1:]:
            op = self.cap.ops[index]
            if op.name not in _COMPARE and op.name not in _DIFF:
                continue
            for other in op.joins:
                c = self.cap.cuts[other] if 0 <= other < len(self.cap.cuts) else None
                if (
                    c is not None
                    and c is not cut
                    and c.kind in (Cause.detach, Cause.data)
                    and c.lost
                    and not c.lost & t.bit
                ):
                    return self.cap.ops.user_site(index)
        return None

    # -- helpers ------------------------------------------------------------------------------------------

    def _compares(self, node: GraphNode) -> bool:
        name = self.graph.op_name(node)
        if name in _COMPARE:
            return True
        if name in ("mul", "__mul__", "__rmul__"):  # a cross-entropy by hand: p * log q, q the prediction
            return any(
                self.graph.by_id[c].name.startswith(_LOG_PROB) for c in node.next if c in self.graph.by_id
            )
        if name not in _DIFF:
            return False
        parents = self.graph.parents.get(node.id, ())
        return any(self.graph.op_name(self.graph.by_id[p]) in _SIZE_OF for p in parents)

    def _module(self, t: Target) -> str:
        """The outermost module around ``t`` that holds no trained tensor ("" when there is none)."""
        parts = t.name.split(".")[:-1]
        trained = self.cap.names(self.trained & ~t.bit)
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if not any(_within(name, prefix) for name in trained):
                return prefix
        return ""

    def _short(self, bits: int) -> str:
        """Tensors in a few words: their common module ("q"), or their names."""
        names = self.cap.names(bits)
        if not names:
            return ""
        common = names[0].split(".")[:-1]
        for name in names[1:]:
            parts = name.split(".")[:-1]
            n = 0
            while n < min(len(common), len(parts)) and common[n] == parts[n]:
                n += 1
            common = common[:n]
        if common and len(names) > 1:
            return ".".join(common)
        tops = list(dict.fromkeys(name.split(".")[0] for name in names))  # their top-level modules
        if len(tops) > 3:
            return ", ".join(tops[:3]) + " and others"
        return " and ".join([", ".join(tops[:-1]), tops[-1]]) if len(tops) > 1 else tops[0]

    def _direct(self, node_id: str) -> int:
        """The target a node accumulates into, through views (a linear's weight behind its transpose)."""
        node = self.graph.by_id.get(node_id)
        while node is not None and node.target < 0 and len(node.next) == 1 and node.name.startswith(_VIEWS):
            node = self.graph.by_id.get(node.next[0])
        return 1 << node.target if node is not None and node.target >= 0 else 0

    def _bits_below(self) -> dict[str, int]:
        """For every node: the targets its gradient flows on to (bitset), computed once, without recursion."""
        if self._below is None:
            by_id = self.graph.by_id
            below: dict[str, int] = {}
            for start in by_id:
                if start in below:
                    continue
                stack = [(start, False)]
                while stack:
                    node_id, done = stack.pop()
                    node = by_id[node_id]
                    if done:
                        bits = 1 << node.target if node.target >= 0 else 0
                        for child in node.next:
                            bits |= below.get(child, 0)
                        below[node_id] = bits
                    elif node_id not in below:
                        stack.append((node_id, True))
                        stack.extend((c, False) for c in node.next if c in by_id and c not in below)
            self._below = below
        return self._below

    def _node_at(self, op: int) -> GraphNode | None:
        """The graph node the forward op ``op`` made (None: not in the recorded graph)."""
        if self._node_of_op is None:
            self._node_of_op = {}
            for node in self.graph.by_id.values():
                if node.op >= 0:
                    self._node_of_op.setdefault(node.op, node)
        return self._node_of_op.get(op)


def _within(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")
