"""Widget state: the graph, verdicts and summaries as JSON, numeric arrays as float32 bytes.

The contract with the front end is ``js/STATE.md``. Everything here is plain data in, plain data out.
"""

from __future__ import annotations

import math
import os
from array import array
from collections.abc import Mapping
from dataclasses import fields

from gradviz.records import (
    ERROR_KINDS,
    HIST_BINS,
    Birth,
    Capture,
    Cut,
    CutHow,
    ErrorInfo,
    GraphNode,
    Site,
    Target,
    TensorSummary,
    Verdict,
    WhatIf,
    complete,
    inherited_ops,
)
from gradviz.view._export import verdict_row, wire_number
from gradviz.view._report import summary_line

STATE_VERSION = 1  # of the graph state (js/STATE.md); a change bumps it and goes in CHANGELOG.md

PALETTE = {
    "ok": "#2e7d32",
    "red": "#d32f2f",
    "frozen": "#9e9e9e",
    "zero": "#ef6c00",
    "nonfinite": "#7b1fa2",
    "op": "#eceff1",
    "loss": "#1565c0",
    "cut": "#d32f2f",
    "leaf": "#ffffff",
}
LEGEND = [
    {"severity": "ok", "label": "gets a gradient"},
    {"severity": "red", "label": "will not learn"},
    {"severity": "frozen", "label": "frozen"},
    {"severity": "zero", "label": "gradient is zero"},
    {"severity": "nonfinite", "label": "gradient is NaN/Inf"},
]
_CUT_LABEL = {
    "detach": ".detach()",
    "data": ".data",
    "no_grad": "no_grad",
    "checkpoint": "checkpoint",
}


def short_path(file: str, cwd: str | None = None) -> str:
    """A path short enough for a label: relative to the working directory when inside it, else the file
    name alone (the inspector shows the full path)."""
    cwd = os.getcwd() if cwd is None else cwd
    try:
        rel = os.path.relpath(file, cwd)
    except ValueError:  # another drive on Windows
        rel = os.pardir
    if os.path.isabs(file) and not rel.startswith(os.pardir):
        return rel
    return os.path.basename(file) or file


def short_where(site: Site | None) -> str:
    return f"{short_path(site.file)}:{site.line}" if site else ""


def cut_label(cut: Cut) -> str:
    if cut.kind == "escaped":
        op = f".{cut.op}()"
    elif cut.how is CutHow.grad_without_graph:
        op = "autograd.grad without create_graph"
    elif cut.kind == "no_grad" and cut.how is CutHow.inference_mode:
        op = "inference_mode"
    else:
        op = _CUT_LABEL.get(cut.kind, f"{cut.op}()")
    return f"✂ {op}" + (f" — {short_where(cut.site)}" if cut.site else "")


def birth_label(birth: Birth) -> str:
    value = "NaN" if birth.kind == "nan" else "Inf"
    phase = "" if birth.phase == "forward" else f" in {birth.phase}"
    return f"☢ {value} born{phase}: {birth.op_name}" + (f" — {short_where(birth.site)}" if birth.site else "")


def error_explanation(err: ErrorInfo) -> str | None:
    """The banner's sentence for an error kind (None when gradviz knows no more than torch's message)."""
    return ERROR_KINDS[err.kind].explanation or None


def build_state(
    cap: Capture, verdicts: dict[str, Verdict], whatif: Mapping[int, WhatIf | str] | None = None
) -> tuple[dict, bytes, bytes]:
    """(graph JSON, edge norms as float32 bytes, histograms as float32 bytes). ``whatif``: per cut index,
    what removing it would reach (``Trace.without``), or why it cannot be removed; shown on cut markers."""
    return _Builder(cap, verdicts, whatif or {}).build()


class _Builder:
    def __init__(
        self, cap: Capture, verdicts: dict[str, Verdict], whatif: Mapping[int, WhatIf | str]
    ) -> None:
        self.cap = cap
        self.verdicts = verdicts
        self.whatif = whatif
        self.verdict_index = {name: i for i, name in enumerate(verdicts)}
        self.nodes: list[dict] = []
        self.edges: list[dict] = []
        self.edge_norms = array("f")
        self.hists = array("f")
        self.node_of_target: dict[int, str] = {}
        self.target_by_name = {t.name: t for t in cap.targets}

    def build(self) -> tuple[dict, bytes, bytes]:
        cap = self.cap
        by_id = {n.id: n for n in cap.graph}
        # roots of the drawn graph (the graph is the last backward's: an earlier call's root is not in it)
        root_ids = {r.node for r in cap.roots if r.node and r.node in by_id}
        self.op_of = inherited_ops(cap.graph, by_id)
        for node in cap.graph:
            self.nodes.append(self._graph_node(node, node.id in root_ids))
            for child in node.next:
                self._edge(child, node.id, "grad", by_id[child].grad_norm if child in by_id else None)
        for target in cap.targets:
            if target.index not in self.node_of_target and target.kind != "replaced":
                self.nodes.append(self._param_node(f"p{target.index}", target))
        self._cuts(root_ids)
        self._births()
        graph = {
            "version": STATE_VERSION,
            "kind": "trace",
            "title": summary_line(cap, self.verdicts),
            "palette": PALETTE,
            "legend": LEGEND,
            "hist_bins": HIST_BINS,  # the width of each row of `hists`
            "nodes": self.nodes,
            "edges": self.edges,
            "modules": [{"path": p, "type": t} for p, t in cap.modules.items()],
            "verdicts": [self._verdict(v) for v in self.verdicts.values()],
            "notes": list(cap.notes),
            "error": self._error(),
        }
        return graph, self.edge_norms.tobytes(), self.hists.tobytes()

    # -- nodes -----------------------------------------------------------------------------------------

    def _graph_node(self, node: GraphNode, is_root: bool) -> dict:
        if node.target >= 0:
            return self._param_node(node.id, self.cap.targets[node.target])
        op_index = self.op_of.get(node.id, -1)
        op = self.cap.ops[op_index] if op_index >= 0 else None
        site = op.site if op else None
        kind = "loss" if is_root else "leaf" if node.leaf_name else "op"
        label = node.name if not node.leaf_name else f"input {node.leaf_name}"
        own = op if node.op >= 0 else None  # inherited ops lend a box and a line, not shapes
        details = {
            "forward": own.name if own else None,
            "inputs": [list(s) for s in own.inputs] if own else [],
            "outputs": [list(s) for s in own.outputs] if own else [],
            "grad_norm_in": _num(node.grad_norm),
        }
        return _node(node.id, kind, label, op.module if op else node.module, site, op=details)

    def _param_node(self, node_id: str, t: Target) -> dict:
        self.node_of_target[t.index] = node_id
        v = self.verdicts.get(t.name)
        value = t.value
        shape = "×".join(map(str, value.shape)) if value and value.shape else "scalar"
        return _node(
            node_id,
            "param",
            f"{t.name}\n{shape}",
            t.module,
            None,
            severity=v.cause.severity if v else None,
            where=v.where if v else None,
            verdict=self.verdict_index.get(t.name),
            tensor={
                "name": t.name,
                "shape": list(value.shape) if value else [],
                "dtype": value.dtype if value else None,
                "device": value.device if value else None,
                "requires_grad": t.requires_grad,
                "is_leaf": t.is_leaf,
                "grad_fn": t.grad_fn,
                "module": t.module,
                "value": self._summary(t.value),
                "grad": self._summary(t.grad),
            },
        )

    def _cuts(self, root_ids: set[str]) -> None:
        """A marker per cut that explains a verdict; red parameters hang off it with dashed edges. Cuts of
        one kind at one line (a reentrant checkpoint cuts every submodule it runs) share one marker."""
        explained: dict[int, list[Target]] = {}
        for t in self.cap.targets:
            v = self.verdicts.get(t.name)
            if v is None or v.cause.severity != "red":
                continue
            for cut in self.cap.cuts:
                if (
                    cut.kind == v.cause.value
                    and cut.lost & t.bit
                    and not cut.retracted
                    and (cut.site is None or cut.site.where == v.where)
                ):
                    explained.setdefault(cut.index, []).append(t)
                    break
        if not explained:
            return
        join_of_op: dict[int, str] = {}  # an op's output node comes first (breadth-first from the loss)
        for n in self.cap.graph:
            if n.op >= 0:
                join_of_op.setdefault(n.op, n.id)
        groups: dict[str, list[int]] = {}
        for index in explained:
            groups.setdefault(cut_label(self.cap.cuts[index]), []).append(index)
        loss = next(iter(sorted(root_ids)), None)
        for label, indices in groups.items():
            first = self.cap.cuts[indices[0]]
            cid = f"c{indices[0]}"
            module = _common_module([self.cap.cuts[i].module for i in indices])
            what = self._whatif(indices[0])
            self.nodes.append(_node(cid, "cut", label, module, first.site, severity="red", whatif=what))
            for index in indices:
                for t in explained[index]:
                    self._edge(self.node_of_target[t.index], cid, "cut", None)
            joins = (join_of_op[op] for i in indices for op in self.cap.ops.joined_at(i) if op in join_of_op)
            joined = next(joins, None)
            if joined is None:
                loss = loss or self._synthetic_loss()
                joined = loss
            self._edge(cid, joined, "cut", None)

    def _whatif(self, index: int) -> dict[str, object] | None:
        """A cut marker's what-if (js/STATE.md): the parameter nodes that would be reached without it,
        those that would still not be (and why), in words; or why it cannot be removed."""
        what = self.whatif.get(index)
        if what is None:
            return None
        if isinstance(what, str):
            return {
                "text": f"Removing it cannot be shown: {what}.",
                "removable": False,
                "reached": [],
                "still": {},
            }
        node = {t.name: self.node_of_target.get(t.index) for t in self.cap.targets}
        return {
            "text": what.text(),
            "removable": True,
            "reached": [n for name in what.reached if (n := node.get(name)) is not None],
            "still": {n: why for name, why in what.still.items() if (n := node.get(name)) is not None},
        }

    def _births(self) -> None:
        """A marker per place a NaN/Inf was born, with an edge to the graph node of the op that made it;
        that node is drawn in the ``nonfinite`` colour."""
        by_id = {n["id"]: n for n in self.nodes}
        for i, birth in enumerate(self.cap.births):
            op = self.cap.ops[birth.op] if 0 <= birth.op < len(self.cap.ops) else None
            marked = by_id.get(birth.node) if birth.node else None
            module = op.module if op else marked["module"] if marked else ""
            masked = self.cap.ops[birth.masked_by] if 0 <= birth.masked_by < len(self.cap.ops) else None
            info = {
                "kind": birth.kind,
                "phase": birth.phase,
                "op": birth.op_name,
                "detail": birth.detail,
                "masked_by": masked.name if masked else None,
                "masked_where": masked.site.where if masked and masked.site else None,
            }
            label = birth_label(birth)
            marker = _node(f"b{i}", "birth", label, module, birth.site, severity="nonfinite", birth=info)
            self.nodes.append(marker)
            if marked is not None:
                if marked["kind"] != "param":
                    marked["severity"] = "nonfinite"
                self._edge(marker["id"], marked["id"], "birth", None)

    def _synthetic_loss(self) -> str:
        requires = any(r.requires_grad for r in self.cap.roots)
        site = self.cap.roots[0].site if self.cap.roots else None
        self.nodes.append(_node("loss", "loss", "loss" if requires else "loss (no grad_fn)", "", site))
        return "loss"

    # -- pieces ----------------------------------------------------------------------------------------

    def _edge(self, source: str, target: str, kind: str, norm: float | None) -> None:
        self.edges.append({"source": source, "target": target, "kind": kind})
        self.edge_norms.append(norm if norm is not None and math.isfinite(norm) else math.nan)

    def _summary(self, s: TensorSummary | None) -> dict | None:
        if s is None:
            return None
        complete(s)
        out = {f.name: getattr(s, f.name) for f in fields(s) if f.name != "sample"}
        out["shape"] = list(s.shape)
        out["hist"] = -1
        if s.hist:
            out["hist"] = len(self.hists) // HIST_BINS
            self.hists.extend(s.hist)
        for key in ("min", "max", "mean", "std", "norm"):
            out[key] = _num(out[key])
        return out

    def _verdict(self, v: Verdict) -> dict:
        t = self.target_by_name.get(v.name)
        return {**verdict_row(v), "node": self.node_of_target.get(t.index) if t else None}

    def _error(self) -> dict | None:
        err = self.cap.error
        if err is None:
            return None
        line = err.blame or err.site
        return {
            "type": err.type,
            "message": err.message,
            "where": line.where if line else None,
            "kind": err.kind,
            "explanation": error_explanation(err),
        }


def _common_module(paths: list[str]) -> str:
    """The deepest module box that holds every path ("" = top level)."""
    parts = [p.split(".") if p else [] for p in paths]
    common: list[str] = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return ".".join(common)


def _node(node_id: str, kind: str, label: str, module: str, site: Site | None, **fields: object) -> dict:
    node: dict[str, object] = {
        "id": node_id,
        "kind": kind,
        "label": label,
        "module": module,
        "severity": None,
        "where": site.where if site else None,
        "code": site.code if site else None,
        "verdict": None,
        "tensor": None,
        "op": None,
        "birth": None,
        "whatif": None,
    }
    node.update(fields)
    return node


_num = wire_number  # JSON has no NaN/Inf: send them as strings the front end shows as they are
