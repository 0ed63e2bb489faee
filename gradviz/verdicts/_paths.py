"""Why a gradient came out exactly zero, read from the recorded backward graph's per-node norms."""

from __future__ import annotations

from gradviz.records import GradState, GraphIndex, GraphNode, Target
from gradviz.verdicts._evidence import ZeroWhy
from gradviz.verdicts._text import at

# Backward nodes whose gradient is zero by definition, or where a unit can die.
_STEP_OPS = ("Round", "Sign", "Floor", "Ceil", "Trunc", "Frac", "Heaviside", "Bucketize", "Searchsorted")
_VIEWS = ("TBackward", "ViewBackward", "TransposeBackward", "Permute", "UnsafeViewBackward", "ExpandBackward")
_PRODUCTS = (
    "MmBackward",
    "BmmBackward",
    "MvBackward",
    "MulBackward",
    "UnsafeViewBackward",
    "EmbeddingBackward",
)
_RANDOM = ("normal_", "normal", "randn", "randn_like", "rand", "rand_like", "uniform_", "_standard_gamma")
# Products whose node also takes a bias (1-D, added after the product).
_NORMS = ("NativeLayerNormBackward", "NativeGroupNormBackward", "NativeBatchNormBackward", "CudnnBatchNorm")
_WITH_BIAS = ("AddmmBackward", "ConvolutionBackward", "LinearBackward", "AddbmmBackward", "BaddbmmBackward")
_RELU_OPS = ("Relu", "Threshold", "Hardtanh", "Relu6", "Clamp", "HardSigmoid")


class ZeroGraph(GraphIndex):
    """The recorded graph, asked why a gradient came out exactly zero."""

    # -- exactly zero ---------------------------------------------------------------------------------------

    def zero_mechanism(self, t: Target) -> ZeroWhy:
        start = t.node
        if start is None or start not in self.by_id:
            return ZeroWhy("unknown")
        node = self.by_id[start]
        if node.grad_norm is None or node.grad_norm != 0:
            return ZeroWhy("unknown")
        # the last zero node below the first node that still had a non-zero incoming gradient: walk up
        # through nodes whose incoming gradient is zero, skip those with none recorded
        zero, source = node, None
        for parent, child in self.ancestors(start, through=lambda n: n.grad_norm == 0):
            if parent.grad_norm is not None and parent.grad_norm != 0:
                zero, source = child, parent
                break
        if source is None:
            return ZeroWhy("unknown")
        live = [p for p in self.parents.get(zero.id, ()) if self.by_id[p].grad_norm not in (None, 0.0)]
        if len(live) >= 2:
            # where: the parameter's own use (the line to look at); the paths and where they rejoin follow
            used = self.cap.ops.user_site(t.first_use) if t.first_use >= 0 else None
            via = tuple(f"{self.op_name(self.by_id[p])}{at(self.site_of(self.by_id[p]))}" for p in live)
            return ZeroWhy(
                "cancel",
                used or self.site_of(zero) or self.site_of(source),
                paths=len(live),
                via=via,
                rejoin=self.site_of(self._rejoin(live)),
                resampled=any(self._resampled(p) for p in live),
            )
        site, op = self.site_of(source), self.op_name(source)
        weight = self._zero_weight(source, exclude=t.index)
        if weight is not None:
            # a zero-initialised factor (LoRA's B, a ReZero gate, a zero-init projection) that gets a gradient
            # of its own and is trained: it moves at this step, and the gradient through it follows
            w = next(x for x in self.cap.targets if x.name == weight)
            moves = w.delivered == GradState.finite and w.requires_grad and w.in_optimizer is not False
            return ZeroWhy("zero_weight", site, op, weight=weight, by_design=moves)
        name = source.name
        if name.startswith(_RELU_OPS):
            return ZeroWhy("dead_relu", site, op, units=self._units(source))
        dead = self._dead_input(source)
        if dead is not None:  # it multiplies a ReLU's output that is 0 everywhere
            return ZeroWhy(
                "dead_relu", self.site_of(dead), self.op_name(dead), units=self._units(dead), feeds=True
            )
        if name.startswith(_STEP_OPS):
            return ZeroWhy("step", site, op)
        if name.startswith(("WhereBackward", "MaskedFill")):
            return ZeroWhy("where", site, op)
        if name.startswith("MulBackward"):
            return ZeroWhy("mul", site, op)
        return ZeroWhy("discarded", site, op)

    def _units(self, node: GraphNode) -> int:
        op_index = self.op_of.get(node.id, -1)
        shape = self.cap.ops[op_index].outputs[0] if 0 <= op_index < len(self.cap.ops) else ()
        return shape[-1] if shape else 0

    def _dead_input(self, source: GraphNode) -> GraphNode | None:
        """An input of the product ``source`` made by a ReLU that received a gradient and passed none on: its
        output is 0 for the whole batch, and what multiplies it gets a zero gradient."""
        if not source.name.startswith((*_PRODUCTS, "AddmmBackward", "ConvolutionBackward", "LinearBackward")):
            return None
        for child_id in source.next:
            child = self.by_id.get(child_id)
            if child is None or not child.name.startswith(_RELU_OPS) or not child.grad_norm:
                continue
            below = [self.by_id[c].grad_norm for c in child.next if c in self.by_id]
            if below and all(g == 0 for g in below):
                return child
        return None

    def _resampled(self, node_id: str) -> bool:
        """The node's op adds noise drawn just before, on the same line: ``loc + eps * scale`` (rsample)."""
        op = self.op_of.get(node_id, -1)
        ops = self.cap.ops
        if not 0 <= op < len(ops) or ops[op].name not in ("add", "__add__", "__radd__", "addcmul"):
            return False
        line = ops.user_site(op)
        return any(ops[i].name in _RANDOM and ops.user_site(i) == line for i in range(max(0, op - 4), op))

    def _rejoin(self, starts: list[str]) -> GraphNode | None:
        """The first node towards the loss that every one of ``starts`` leads to: where paths rejoin."""
        reach: list[dict[str, int]] = []
        for start in starts:
            depth = {start: 0}
            for parent, child in self.ancestors(start):
                depth.setdefault(parent.id, depth[child.id] + 1)
            reach.append(depth)
        common = set(reach[0]).intersection(*reach[1:])
        if not common:
            return None
        return self.by_id[min(common, key=lambda n: max(r[n] for r in reach))]

    def _zero_weight(self, source: GraphNode, exclude: int, depth: int = 0) -> str | None:
        """A target whose value is all zeros among ``source``'s inputs (through views and transposes), or,
        one product further, the zero weight that made an input all zeros (``B(A(x))`` with A = 0: B's
        gradient is multiplied by A(x) = 0)."""
        # A bias is added, not multiplied: a zero bias zeroes no gradient. A linear's or a convolution's is
        # its only 1-D input; a norm's node takes (input, weight, bias), all but the input 1-D: its bias is
        # the last of three, and with fewer (an input without gradient) the two cannot be told apart.
        norm = source.name.startswith(_NORMS)
        skip_1d = source.name.startswith(_WITH_BIAS) or (norm and len(source.next) < 3)
        for slot, child_id in enumerate(source.next):
            if norm and len(source.next) == 3 and slot == 2:
                continue
            child = self.by_id.get(child_id)
            while (
                child is not None and child.target < 0 and len(child.next) == 1 and "Backward" in child.name
            ):
                if not child.name.startswith(_VIEWS):
                    break
                child = self.by_id.get(child.next[0])
            if child is None or child.target == exclude:
                continue
            if child.target < 0:
                if depth == 0 and child.name.startswith(_PRODUCTS):  # a product without a bias term
                    inner = self._zero_weight(child, exclude, depth + 1)
                    if inner is not None:
                        return inner
                continue
            target = self.cap.targets[child.target]
            if skip_1d and target.value is not None and len(target.value.shape) == 1:
                continue
            if target.value is not None and target.value.norm == 0.0 and target.value.numel:
                return target.name
        return None
