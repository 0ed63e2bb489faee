"""Why a gradient came out exactly zero, read from the recorded backward graph's per-node norms."""

from __future__ import annotations

from gradviz.records import GraphIndex, GraphNode, Target
from gradviz.verdicts._evidence import ZeroWhy
from gradviz.verdicts._text import at

# Backward nodes whose gradient is zero by definition, or where a unit can die.
_STEP_OPS = ("Round", "Sign", "Floor", "Ceil", "Trunc", "Frac", "Heaviside", "Bucketize", "Searchsorted")
_RELU_OPS = ("Relu", "Threshold", "Hardtanh", "Relu6", "Clamp", "HardSigmoid")
# Names of weights that start at exactly zero on purpose, so that an adapter or a residual branch starts as
# a no-op (LoRA's B, ReZero gates, zero-initialised projections in adapters and ControlNet).
_ZERO_BY_DESIGN = ("lora_b", "lora_up", "lora_magnitude", "zero_conv", "rezero", "controlnet")


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
            )
        site, op = self.site_of(source), self.op_name(source)
        weight = self._zero_weight(source, exclude=t.index)
        if weight is not None:
            lowered = weight.lower()
            by_design = any(key in lowered for key in _ZERO_BY_DESIGN)
            return ZeroWhy("zero_weight", site, op, weight=weight, by_design=by_design)
        name = source.name
        if name.startswith(_RELU_OPS):
            op_index = self.op_of.get(source.id, -1)
            shape = self.cap.ops[op_index].outputs[0] if 0 <= op_index < len(self.cap.ops) else ()
            return ZeroWhy("dead_relu", site, op, units=shape[-1] if shape else 0)
        if name.startswith(_STEP_OPS):
            return ZeroWhy("step", site, op)
        if name.startswith(("WhereBackward", "MaskedFill")):
            return ZeroWhy("where", site, op)
        if name.startswith("MulBackward"):
            return ZeroWhy("mul", site, op)
        return ZeroWhy("discarded", site, op)

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

    def _zero_weight(self, source: GraphNode, exclude: int) -> str | None:
        """A target whose value is all zeros among ``source``'s inputs (through views and transposes)."""
        for child_id in source.next:
            child = self.by_id.get(child_id)
            while (
                child is not None and child.target < 0 and len(child.next) == 1 and "Backward" in child.name
            ):
                if not child.name.startswith(("TBackward", "ViewBackward", "TransposeBackward", "Permute")):
                    break
                child = self.by_id.get(child.next[0])
            if child is None or child.target < 0 or child.target == exclude:
                continue
            target = self.cap.targets[child.target]
            if target.value is not None and target.value.norm == 0.0 and target.value.numel:
                return target.name
        return None
