"""Locate, in the recorded backward graph (plain data), where a gradient was spoiled or stopped.

Births: a parameter's NaN/Inf gradient was made by the first node, going from the parameter towards the
loss, whose incoming gradient is still finite: its backward turned finite into non-finite. If that node's
forward op took or made a NaN/Inf in the forward (``Capture.op_taint``), the birth is that forward one
instead: the backward only multiplied by a value the forward had already spoiled.

Blocks: a parameter the graph reaches but to which no gradient arrived (a custom autograd.Function whose
backward returns None for it): the first node above it that did receive a gradient passed none on. It is
recorded as a Cut (``non_differentiable``, detail ``returns_none``) so it is explained and drawn like one.
"""

from __future__ import annotations

import math

from gradviz.records import (
    Birth,
    Capture,
    Cause,
    Cut,
    CutHow,
    GradState,
    GraphIndex,
    GraphNode,
    Target,
    is_custom,
    op_name_of,
)

# What the backward of each op does where it makes NaN/Inf from a finite gradient.
_BACKWARD_DETAIL = {
    "sqrt": "its gradient 1/(2·sqrt(x)) is infinite at x = 0 (a division by sqrt(0))",
    "rsqrt": "its gradient -1/(2·x^1.5) is infinite at x = 0",
    "pow": "its gradient p·x^(p-1) is infinite at x = 0 for p < 1",
    "div": "it divides by a denominator of 0",
    "reciprocal": "its gradient -1/x² is infinite at x = 0",
    "log": "its gradient 1/x is infinite at x = 0",
    "log2": "its gradient is infinite at x = 0",
    "log10": "its gradient is infinite at x = 0",
    "norm": "its gradient x/‖x‖ is 0/0 where the norm is 0",
    "linalg_vector_norm": "its gradient x/‖x‖ is 0/0 where the norm is 0",
    "cdist": "its gradient is 0/0 where two points are equal (a distance of 0)",
    "pdist": "its gradient is 0/0 where two points are equal (a distance of 0)",
    "dist": "its gradient is 0/0 where the two points are equal (a distance of 0)",
    "acos": "its gradient 1/sqrt(1-x²) is infinite at x = ±1",
    "asin": "its gradient 1/sqrt(1-x²) is infinite at x = ±1",
    "atanh": "its gradient 1/(1-x²) is infinite at x = ±1",
    "std": "its gradient divides by a standard deviation of 0",
    "var": "its gradient is 0/0 for a single element",
}


# cuts made by code whose backward runs out of sight: a reentrant checkpoint, a custom Function's forward
_OUT_OF_SIGHT = (CutHow.reentrant, CutHow.in_function)


def locate_births(cap: Capture) -> None:
    """Set ``birth`` on each target whose delivered gradient is non-finite, and on each non-finite root,
    adding backward births to ``cap.births``. Pure: reads plain data only."""
    locate_target_births(cap)
    _roots_births(cap)
    _keep_relevant(cap)


def locate_target_births(cap: Capture) -> None:
    """Births of the non-finite gradients this backward delivered, read from its graph (``cap.graph``).

    Called after each backward: a later backward replaces the graph, and a target keeps the birth of the
    first non-finite gradient it got (a NaN from step 1 then spoils the weights an optimizer step writes:
    what step 2 reads is that NaN, not a new birth)."""
    if not any(t.delivered == GradState.nonfinite and t.birth < 0 for t in cap.targets):
        return  # nothing new was non-finite (the common case): no graph index to build
    graph = _Graph(cap)
    for target in cap.targets:
        if target.delivered != GradState.nonfinite or target.birth >= 0:
            continue
        unseen = graph.runs_unseen(target.bit)  # also used inside code out of sight: it may have got it there
        source = graph.came_unseen(target) if target.node is not None and unseen else None
        if source is None:
            source = (
                graph.opaque_source() if target.node is None else graph.source(target.node, unseen=unseen)
            )
        if source is None:
            continue
        if is_custom(source) and source.op < 0 and (inside := graph.inside(source, target.bit)) >= 0:
            target.birth = inside
            continue
        op = graph.op_of.get(source.id, -1)
        if op >= 0 and op in cap.op_taint:
            target.birth = cap.op_taint[op]
        else:
            target.birth = graph.birth(source, op)


def _roots_births(cap: Capture) -> None:
    for root in cap.roots:
        if root.nonfinite and root.birth < 0:
            kinds = [
                i for i, b in enumerate(cap.births) if b.phase != "backward" and b.kind == root.nonfinite
            ]
            others = [i for i, b in enumerate(cap.births) if b.phase != "backward"]
            root.birth = (kinds or others or [-1])[0]


def _keep_relevant(cap: Capture) -> None:
    """Keep only the births that explain a verdict or a non-finite loss (an Inf written into a mask that a
    softmax then turns into 0 explains nothing), renumbering the references to them."""
    used = sorted(
        {t.birth for t in cap.targets if t.birth >= 0} | {r.birth for r in cap.roots if r.birth >= 0}
    )
    new = {old: i for i, old in enumerate(used)}
    cap.births[:] = [cap.births[i] for i in used]
    for t in cap.targets:
        t.birth = new.get(t.birth, -1)
    for r in cap.roots:
        r.birth = new.get(r.birth, -1)
    cap.op_taint = {op: new[b] for op, b in cap.op_taint.items() if b in new}


class _Graph(GraphIndex):
    def __init__(self, cap: Capture) -> None:
        super().__init__(cap)
        self._made: dict[str, int] = {}
        self._opaque: list[GraphNode | None] = []  # opaque_source(), once per graph

    def runs_unseen(self, bit: int) -> bool:
        """Whether the target ``bit`` ran inside a reentrant checkpoint or a custom Function's forward."""
        return any(c.lost & bit and c.how in _OUT_OF_SIGHT for c in self.cap.cuts)

    def source(self, start: str, unseen: bool = False) -> GraphNode | None:
        """The node whose backward made the non-finite gradient arriving at ``start`` (``unseen``: the
        target also ran out of sight; where no seen parent can have made it, it came from there).

        # NOTE [follow the non-finite edges]
        # A node's recorded norm is of its incoming gradient, the sum of what its parents sent. Walking up
        # from ``start``, the non-finite value came through a parent whose own incoming gradient is
        # non-finite, if there is one: the walk goes up through those only (a parameter used on several
        # paths has finite parents on the paths that carried no NaN; they are not where it was born). A
        # non-finite node none of whose parents is non-finite got it from the backward of one of them: the
        # births. Of several, the one autograd ran first (the latest in the forward) is where it began; at
        # one node, a parent whose forward op took a NaN/Inf (its backward multiplies by it: the forward
        # birth is the one) is preferred, then one whose backward can make NaN/Inf (sqrt, log, div, ...) or
        # whose incoming gradient is zero (0 x inf), over one that cannot. Parents whose incoming norm was
        # not recorded (seen under backward(inputs=...): autograd ran the node, its hook reported nothing)
        # are walked through when no parent has a recorded norm: they passed on what reached them.
        """
        if start not in self.by_id:
            return None
        births: list[GraphNode] = []
        seen = {start}
        queue = [start]
        while queue:
            node_id = queue.pop()
            parents = [self.by_id[p] for p in self.parents.get(node_id, ())]
            bad = [p for p in parents if p.grad_norm is not None and not math.isfinite(p.grad_norm)]
            if bad:
                for p in bad:
                    if p.id not in seen:
                        seen.add(p.id)
                        queue.append(p.id)
                continue
            finite = [p for p in parents if p.grad_norm is not None]
            if not finite:  # only parents whose incoming norm was not recorded: what reached them came on
                for p in parents:
                    if p.id not in seen:
                        seen.add(p.id)
                        queue.append(p.id)
                continue
            if finite:
                best = max(finite, key=self._birth_rank)
                tainted, can_make, _ = self._birth_rank(best)
                if unseen and not (tainted or can_make) and (hidden := self.opaque_source()) is not None:
                    best = hidden  # none of the seen parents can make it: it came through unseen code
                births.append(best)
        return max(births, key=self._time_rank) if births else None

    def opaque_source(self) -> GraphNode | None:
        """For a parameter the graph does not reach (used inside a reentrant checkpoint or a custom
        autograd.Function, whose backward builds and runs its own graph): its gradient came out of such a
        node (one that passed a non-finite gradient on, or has no edges to tell). If the gradient arriving
        there was already non-finite, its source is above it; if it was finite, the node's own backward
        made the NaN/Inf (what runs inside it is not seen). None if the graph has no such node."""
        if not self._opaque:  # the same for every parameter of this graph: walked once
            self._opaque.append(self._opaque_source())
        return self._opaque[0]

    def _opaque_source(self) -> GraphNode | None:
        found: list[GraphNode] = []
        for node in self.cap.graph:
            if not is_custom(node) or node.grad_norm is None:
                continue
            out = [self.by_id[c].grad_norm for c in node.next if c in self.by_id]
            if any(g is not None for g in out) and all(g is None or math.isfinite(g) for g in out):
                continue  # what it passed on is finite: not where a NaN/Inf came out
            source = node if math.isfinite(node.grad_norm) else self.source(node.id, unseen=False)
            if source is not None:
                found.append(source)
        return max(found, key=self._time_rank) if found else None

    def came_unseen(self, target: Target) -> GraphNode | None:
        """Where the NaN/Inf came from that reached ``target`` only from code out of sight: its node records
        what came through the graph walked (the arrivals of the backward's own graph task), and that was
        finite; the rest came from a backward a node ran inside it (a reentrant checkpoint's): that node if
        what reached it was finite, else the source above it. None: not so."""
        own = self.by_id[target.node].grad_norm if target.node in self.by_id else None
        if own is None or not math.isfinite(own):
            return None
        custom = [n for n in self.cap.graph if is_custom(n) and n.grad_norm is not None]
        at = target.unseen_nonfinite_at
        running = [n for n in custom if n.ran is not None and n.ran[0] < at < n.ran[1]]
        if running:  # the NaN/Inf arrived while these ran: it came out of the innermost
            custom = [max(running, key=lambda n: n.ran[0] if n.ran is not None else -1)]
        if not custom:
            return None
        node = max(custom, key=self._time_rank)
        came = node.grad_norm
        return node if came is not None and math.isfinite(came) else self.source(node.id)

    def inside(self, node: GraphNode, bit: int) -> int:
        """A birth inside the backward of a reentrant checkpoint (or a custom autograd.Function) that
        ``bit``'s target ran in: what runs inside is not seen, only the call (-1: not such a call)."""
        made = self._made.get(node.id)
        if made is not None:
            return made
        hidden = [c for c in self.cap.cuts if c.lost & bit and c.how in _OUT_OF_SIGHT]
        if not hidden:
            return -1
        # the node's own call (its forward's cuts), where known: the target may have run in another one
        # whose backward only passed this node's NaN/Inf on
        own = [
            c for c in self.cap.cuts if node.seq >= 0 and c.node_seq == node.seq and c.how in _OUT_OF_SIGHT
        ]
        hidden = own or hidden
        for c in hidden:  # its forward took a NaN/Inf born before it: the backward multiplied by that one
            if c.op_index in self.cap.op_taint:
                return self.cap.op_taint[c.op_index]
        cut = hidden[0]
        reentrant = cut.how is CutHow.reentrant
        detail = (
            "its backward re-runs the checkpointed forward and runs autograd inside it, out of sight: "
            "the op in it that made the NaN/Inf is not seen (use_reentrant=False shows it)"
            if reentrant
            else "its backward runs out of sight: the op in it that made the NaN/Inf is not seen"
        )
        name = "checkpoint" if reentrant else node.name.removesuffix("Backward")
        # a Function's birth at the user's apply() call (its node's); a checkpoint's cut is at the user's call
        site = cut.site if reentrant else self.cap.functions.get(node.seq, cut.site)
        self.cap.births.append(Birth("nan", "backward", -1, name, node.id, site, detail=detail))
        children = [g for c in node.next if c in self.by_id and (g := self.by_id[c].grad_norm) is not None]
        if children and not any(math.isnan(g) for g in children):
            self.cap.births[-1].kind = "inf"
        index = self._made[node.id] = len(self.cap.births) - 1
        return index

    def _birth_rank(self, node: GraphNode) -> tuple[bool, bool, int]:
        """Of the parents that sent a non-finite gradient from a finite one, the likeliest: one whose forward
        op took a NaN/Inf (its backward multiplies by it), then one whose backward can make one."""
        op = self.op_of.get(node.id, -1)
        own = op >= 0 and node.op >= 0
        name = self.cap.ops[op].name if own else op_name_of(node.name)
        can_make = name.strip("_").removesuffix("_") in _BACKWARD_DETAIL or node.grad_norm == 0
        # in half precision any op's backward can overflow (a gradient times 3000 beyond 65504)
        can_make = can_make or (own and self.cap.ops[op].out_dtype in ("float16", "bfloat16"))
        return own and op in self.cap.op_taint, can_make, self._time_rank(node)

    def _time_rank(self, node: GraphNode) -> int:
        """Larger for nodes autograd runs earlier: made later in the forward."""
        op = self.op_of.get(node.id, -1)
        return op if op >= 0 else node.seq

    def birth(self, node: GraphNode, op: int) -> int:
        """The backward birth at ``node`` (one per node)."""
        made = self._made.get(node.id)
        if made is not None:
            return made
        cap = self.cap
        children = [self.by_id[c] for c in node.next if c in self.by_id]
        bad = [c.grad_norm for c in children if c.grad_norm is not None and not math.isfinite(c.grad_norm)]
        kind = "nan" if any(math.isnan(b) for b in bad) else "inf"
        name = cap.ops[op].name if op >= 0 else op_name_of(node.name)
        detail = _BACKWARD_DETAIL.get(name.strip("_").removesuffix("_"), "")
        masked = -1
        if node.grad_norm == 0:
            detail = "the zero gradient it receives meets an infinite local derivative (0 × ∞ = NaN)"
            masked = next(
                (self.op_of.get(p, -1) for p in self.parents.get(node.id, ()) if self._is_where(p)), -1
            )
        cap.births.append(
            Birth(
                kind=kind,
                phase="backward",
                op=op,
                op_name=name,
                node=node.id,
                site=cap.ops.user_site(op) if op >= 0 else None,
                detail=detail,
                masked_by=masked,
            )
        )
        index = self._made[node.id] = len(cap.births) - 1
        return index

    def _is_where(self, node_id: str) -> bool:
        return self.by_id[node_id].name.startswith("WhereBackward")


def mark_forward_births(cap: Capture) -> None:
    """Give each forward birth the graph node its op made (the node to draw it on), if it is drawn."""
    first_node: dict[int, str] = {}
    for node in cap.graph:
        if node.op >= 0:
            first_node.setdefault(node.op, node.id)
    for birth in cap.births:
        if birth.phase != "backward" and birth.node is None:
            birth.node = first_node.get(birth.op)


def locate_blocks(cap: Capture) -> None:
    """A Cut for each reached target to which a backward that ran without error delivered nothing."""
    if not cap.backward_calls or cap.error is not None:
        return
    if not any(t.reached and not t.delivered and not t.returned for t in cap.targets):
        return
    graph = _Graph(cap)
    measured = any(n.grad_norm is not None for n in cap.graph)
    made: dict[str, Cut] = {}
    for target in cap.targets:
        if not target.reached or target.delivered or target.returned or target.node is None:
            continue
        if not target.is_leaf or not target.requires_grad or target.kind == "unregistered":
            continue
        if target.not_requested is not None:  # the backward was asked for other inputs: nothing is owed
            continue
        if target.opaque_how == "torch.compile":  # the rules say what is known of compiled code
            continue
        if measured:
            node = graph.towards_loss(target.node, lambda n: n.grad_norm is not None)
        else:
            node = graph.towards_loss(target.node, is_custom)
        if node is None:
            continue
        cut = made.get(node.id)
        if cut is None:
            custom = is_custom(node)
            op = graph.op_of.get(node.id, -1)
            site = cap.functions.get(node.seq) if custom and node.seq >= 0 else None
            if site is None and op >= 0:
                site = cap.ops.user_site(op)
            name = node.name.removesuffix("Backward") if custom else op_name_of(node.name)
            cut = made[node.id] = Cut(
                index=len(cap.cuts),
                kind=Cause.non_differentiable,
                op=name,
                lost=0,
                site=site,
                how=CutHow.returns_none if custom else CutHow.no_gradient_out,
                op_index=op,
            )
            cap.cuts.append(cut)
        cut.lost |= target.bit
