"""Synthetic widget states (js/STATE.md) for the render benchmark: GPT-like stacks of blocks.

Each block is 43 autograd nodes in 8 modules (layer norms, attention with qkv/proj, MLP with
fc/proj) plus two residual adds; 12 blocks make ~530 nodes (a 12-layer GPT's 532), 96 blocks
~4,100, and 12 stages of 96 blocks ~50k. One block's ``mlp.fc`` is cut off by ``.detach()``.
"""

from __future__ import annotations

import random
import struct

from gradviz.records import HIST_BINS
from gradviz.view._state import LEGEND, PALETTE  # the real colours, so the benchmark draws what users see

ATTENTION_CORE = [
    "SplitBackward0",
    "ViewBackward0",
    "ViewBackward0",
    "ViewBackward0",
    "TransposeBackward0",
    "TransposeBackward0",
    "TransposeBackward0",
    "BmmBackward0",
    "DivBackward0",
    "MaskedFillBackward0",
    "SoftmaxBackward0",
    "BmmBackward0",
    "TransposeBackward0",
    "ViewBackward0",
]


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.nodes: list[dict] = []
        self.edges: list[dict] = []
        self.norms: list[float] = []
        self.hists: list[float] = []
        self.modules: list[dict] = [{"path": "", "type": "GPT"}]
        self.verdicts: list[dict] = []
        self.line = 10

    def module(self, path: str, type_: str) -> str:
        self.modules.append({"path": path, "type": type_})
        return path

    def edge(self, source: str, target: str, kind: str = "grad") -> None:
        self.edges.append({"source": source, "target": target, "kind": kind})
        self.norms.append(float("nan") if kind == "cut" else self.rng.lognormvariate(-3, 1.5))

    def node(self, kind: str, label: str, module: str, **extra) -> str:
        node_id = f"{'p' if kind == 'param' else 'c' if kind == 'cut' else 'g'}{len(self.nodes)}"
        self.line += 1
        node = {"id": node_id, "kind": kind, "label": label, "module": module, "severity": None}
        node.update(where=f"model.py:{self.line % 200 + 1}", code="x = self.block(x)")
        node.update({"verdict": None, "tensor": None, "op": None, **extra})
        self.nodes.append(node)
        return node_id

    def op(self, label: str, module: str, *inputs: str) -> str:
        shapes = {"inputs": [[8, 64, 256]], "outputs": [[8, 64, 256]]}
        node_id = self.node(
            "op", label, module, op={"forward": label[:-9].lower(), **shapes, "grad_norm_in": 0.1}
        )
        for source in inputs:
            self.edge(source, node_id)
        return node_id

    def summary(self, shape: list[int]) -> dict:
        row = len(self.hists) // HIST_BINS
        self.hists.extend(float(self.rng.randint(0, 500)) for _ in range(HIST_BINS))
        numel = 1
        for n in shape:
            numel *= n
        stats = {
            "min": -0.2,
            "max": 0.2,
            "mean": 0.0,
            "std": 0.05,
            "norm": 1.3,
            "zeros": 0,
            "nan": 0,
            "inf": 0,
        }
        return {
            "shape": shape,
            "dtype": "float32",
            "device": "cpu",
            "numel": numel,
            **stats,
            "sampled": False,
            "hist": row,
        }

    def param(self, name: str, module: str, shape: list[int], severity: str = "ok") -> str:
        verdict = len(self.verdicts)
        tensor = {"name": name, "shape": shape, "dtype": "float32", "device": "cpu", "requires_grad": True}
        tensor.update(is_leaf=True, grad_fn=None, module=module, value=self.summary(shape))
        tensor["grad"] = self.summary(shape) if severity == "ok" else None
        node_id = self.node("param", name, module, severity=severity, verdict=verdict, tensor=tensor)
        red = severity == "red"
        self.verdicts.append(
            {
                "name": name,
                "cause": "detach" if red else "ok",
                "severity": severity,
                "where": "model.py:42" if red else None,
                "message": f"{name} gets no gradient: its only path to the loss goes through .detach()."
                if red
                else f"{name} received a finite, non-zero gradient.",
                "fix": "Remove the .detach() on that path." if red else "Nothing to fix.",
                "grad_norm": None if red else 0.05,
                "node": node_id,
            }
        )
        return node_id

    def linear(self, path: str, x: str) -> str:
        self.module(path, "Linear")
        weight = self.param(f"{path}.weight", path, [256, 256])
        t = self.op("TBackward0", path, weight)
        return self.op(
            "ViewBackward0",
            path,
            self.op("AddmmBackward0", path, x, t, self.param(f"{path}.bias", path, [256])),
        )

    def layer_norm(self, path: str, x: str) -> str:
        self.module(path, "LayerNorm")
        w, b = self.param(f"{path}.weight", path, [256]), self.param(f"{path}.bias", path, [256])
        return self.op("NativeLayerNormBackward0", path, x, w, b)

    def block(self, path: str, x: str, detached: bool) -> str:
        self.module(path, "Block")
        h = self.linear(f"{path}.attn.qkv", self.layer_norm(f"{path}.ln1", x))
        self.module(f"{path}.attn", "CausalSelfAttention")
        for label in ATTENTION_CORE:
            h = self.op(label, f"{path}.attn", h)
        x = self.op("AddBackward0", path, x, self.linear(f"{path}.attn.proj", h))
        h = self.layer_norm(f"{path}.ln2", x)
        self.module(f"{path}.mlp", "MLP")
        if detached:  # h = self.fc(h).detach(): fc's parameters hang off a cut marker
            fc = self.module(f"{path}.mlp.fc", "Linear")
            cut = self.node("cut", "✂ .detach() — model.py:42", "", severity="red", where="model.py:42")
            for name, shape in (("weight", [256, 256]), ("bias", [256])):
                self.edge(self.param(f"{fc}.{name}", fc, shape, severity="red"), cut, "cut")
            gelu = self.op("GeluBackward0", f"{path}.mlp")
            self.edge(cut, gelu, "cut")
            x = self.op("AddBackward0", path, x, h)  # ln2's output still reaches the residual sum
        else:
            gelu = self.op("GeluBackward0", f"{path}.mlp", self.linear(f"{path}.mlp.fc", h))
        return self.op("AddBackward0", path, x, self.linear(f"{path}.mlp.proj", gelu))

    def gpt(self, block_paths: list[str], detached_block: int) -> None:
        tokens = self.op(
            "EmbeddingBackward0",
            self.module("wte", "Embedding"),
            self.param("wte.weight", "wte", [50257, 256]),
        )
        positions = self.op(
            "EmbeddingBackward0", self.module("wpe", "Embedding"), self.param("wpe.weight", "wpe", [64, 256])
        )
        x = self.op("AddBackward0", "", tokens, positions)
        for i, path in enumerate(block_paths):
            x = self.block(path, x, detached=i == detached_block)
        x = self.layer_norm("ln_f", x)
        head = self.module("head", "Linear")
        logits = self.op(
            "MmBackward0", head, x, self.op("TBackward0", head, self.param("head.weight", head, [50257, 256]))
        )
        log_probs = self.op("LogSoftmaxBackward0", "", self.op("ViewBackward0", "", logits))
        loss = self.node(
            "loss",
            "NllLossBackward0",
            "",
            op={"forward": "nll_loss", "inputs": [], "outputs": [[]], "grad_norm_in": 1.0},
        )
        self.edge(log_probs, loss)

    def state(self, title: str) -> tuple[dict, bytes, bytes]:
        known = {m["path"] for m in self.modules}
        for path in sorted({p[:i] for p in known for i, ch in enumerate(p) if ch == "."} - known):
            self.modules.append({"path": path, "type": "ModuleList"})
        graph = {
            "version": 1,
            "kind": "trace",
            "title": title,
            "palette": PALETTE,
            "legend": LEGEND,
            "nodes": self.nodes,
            "edges": self.edges,
            "modules": self.modules,
            "verdicts": self.verdicts,
            "notes": [],
            "error": None,
        }
        pack = lambda values: struct.pack(f"<{len(values)}f", *values)  # noqa: E731
        return graph, pack(self.norms), pack(self.hists)


def gpt_state(layers: int, seed: int = 0) -> tuple[dict, bytes, bytes]:
    """A GPT with ``layers`` blocks in ``blocks.<i>``; block 3 (or the last) has a detached MLP input."""
    b = _Builder(seed)
    b.gpt([f"blocks.{i}" for i in range(layers)], detached_block=min(3, layers - 1))
    return b.state(f"GPT-{layers} (synthetic)")


def staged_state(stages: int, blocks: int, seed: int = 0) -> tuple[dict, bytes, bytes]:
    """``stages`` x ``blocks`` GPT blocks in ``stages.<s>.<b>``: module structure two levels deep."""
    b = _Builder(seed)
    b.gpt([f"stages.{s}.{i}" for s in range(stages) for i in range(blocks)], detached_block=3)
    return b.state(f"{stages}x{blocks} blocks (synthetic)")
