// Test inputs: the checked-in small-model state and synthetic graphs built to js/STATE.md.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const FIXTURE = resolve(dirname(fileURLToPath(import.meta.url)), "../../tests/browser/fixtures/small_model.json");

/** Bins per histogram row, as Python sends them in `graph.hist_bins` (gradviz/view/_state.py). */
export const HIST_BINS = 16;

/**
 * The small model (two red parameters behind one .detach() cut): {graph, edgeNorms, hists}. A fixture
 * written before Python sent `hist_bins` gets the bin count it was written with.
 */
export function smallModel() {
  const state = JSON.parse(readFileSync(FIXTURE, "utf8"));
  const bytes = (b64) => new DataView(Uint8Array.from(Buffer.from(b64, "base64")).buffer);
  return { graph: { hist_bins: HIST_BINS, ...state.graph }, edgeNorms: bytes(state.edge_norms), hists: bytes(state.hists) };
}

export const PALETTE = {
  ok: "#2e7d32",
  red: "#d32f2f",
  frozen: "#9e9e9e",
  zero: "#ef6c00",
  nonfinite: "#7b1fa2",
  op: "#eceff1",
  loss: "#1565c0",
  cut: "#d32f2f",
  leaf: "#ffffff",
};

/**
 * A transformer-like graph: `blocks` blocks of `parts` submodules, each a chain of `opsPerPart`
 * ops with one weight parameter; every block feeds the next; a loss on top. Optionally the first
 * block's first parameter is red, cut off by a `.detach()`.
 */
export function syntheticGraph({ blocks, parts = 4, opsPerPart = 3, withCut = true }) {
  const nodes = [];
  const edges = [];
  const modules = [{ path: "", type: "Net" }, { path: "blocks", type: "ModuleList" }];
  const node = (id, kind, label, module, extra = {}) => {
    nodes.push({ id, kind, label, module, severity: null, where: null, code: null, verdict: null, tensor: null, op: null, ...extra });
    return id;
  };
  const loss = node("g0", "loss", "MeanBackward0", "");
  let prev = null;
  let n = 1;
  for (let b = 0; b < blocks; b++) {
    modules.push({ path: `blocks.${b}`, type: "Block" });
    for (let p = 0; p < parts; p++) {
      const path = `blocks.${b}.part${p}`;
      modules.push({ path, type: "Linear" });
      for (let o = 0; o < opsPerPart; o++) {
        const id = node(`g${n++}`, "op", "AddmmBackward0", path);
        if (prev) edges.push({ source: prev, target: id, kind: "grad" });
        prev = id;
      }
      const red = withCut && b === 0 && p === 0;
      const param = node(`p${n++}`, "param", `${path}.weight`, path, {
        severity: red ? "red" : "ok",
        tensor: { name: `${path}.weight`, shape: [4, 4], dtype: "float32", device: "cpu", requires_grad: true, is_leaf: true, grad_fn: null, module: path, value: null, grad: null },
      });
      if (red) {
        const cut = node("c0", "cut", "✂ .detach() — model.py:9", "", { severity: "red", where: "model.py:9" });
        edges.push({ source: param, target: cut, kind: "cut" }, { source: cut, target: prev, kind: "cut" });
      } else {
        edges.push({ source: param, target: prev, kind: "grad" });
      }
    }
  }
  edges.push({ source: prev, target: loss, kind: "grad" });
  return { version: 1, kind: "trace", title: "synthetic", palette: PALETTE, legend: [], nodes, edges, modules, verdicts: [], notes: [], error: null, hist_bins: HIST_BINS };
}

/**
 * `n` blocks of two Linear layers whose parameters all hang off one checkpoint cut (as a reentrant
 * checkpoint whose input does not require grad leaves them), plus a head that learns.
 */
export function checkpointGraph(blocks = 2) {
  const nodes = [];
  const edges = [];
  const verdicts = [];
  const modules = [{ path: "", type: "TinyGPT" }, { path: "blocks", type: "ModuleList" }, { path: "head", type: "Linear" }];
  const node = (id, kind, label, module, extra = {}) => {
    nodes.push({ id, kind, label, module, severity: null, where: null, code: null, verdict: null, tensor: null, op: null, ...extra });
    return id;
  };
  const tensor = (name, module) => ({ name, shape: [4, 4], dtype: "float32", device: "cpu", requires_grad: true, is_leaf: true, grad_fn: null, module, value: null, grad: null });
  node("g0", "loss", "MeanBackward0", "");
  node("g1", "op", "MmBackward0", "head");
  edges.push({ source: "g1", target: "g0", kind: "grad" });
  const ok = node("g2", "param", "head.weight", "head", { severity: "ok", verdict: verdicts.length, tensor: tensor("head.weight", "head") });
  verdicts.push({ name: "head.weight", cause: "ok", severity: "ok", where: null, message: "ok", fix: "", grad_norm: 1, node: ok });
  edges.push({ source: ok, target: "g1", kind: "grad" });
  node("c0", "cut", "✂ checkpoint — gpt.py:68", "blocks", { severity: "red", where: "/home/u/gpt.py:68", code: "x = checkpoint(block, x)" });
  edges.push({ source: "c0", target: "g1", kind: "cut" });
  let p = 0;
  for (let b = 0; b < blocks; b++) {
    modules.push({ path: `blocks.${b}`, type: "Block" });
    for (const part of ["qkv", "proj", "fc"]) {
      const path = `blocks.${b}.${part}`;
      modules.push({ path, type: "Linear" });
      for (const what of ["weight", "bias"]) {
        const name = `${path}.${what}`;
        const id = node(`p${p++}`, "param", name, path, { severity: "red", verdict: verdicts.length, tensor: tensor(name, path) });
        verdicts.push({ name, cause: "checkpoint", severity: "red", where: "/home/u/gpt.py:68", message: `${name} gets no gradient.`, fix: "Use use_reentrant=False.", grad_norm: null, node: id });
        edges.push({ source: id, target: "c0", kind: "cut" });
      }
    }
  }
  return { version: 1, kind: "trace", title: "TinyGPT: 13 tensors checked, 12 will not learn", palette: PALETTE, legend: [], nodes, edges, modules, verdicts, notes: [], error: null, hist_bins: HIST_BINS };
}

/** The small model with a NaN born in its head's addmm (g4): a birth marker b0 pointing at it. */
export function birthModel() {
  const { graph, edgeNorms, hists } = smallModel();
  const nodes = graph.nodes.map((n) => (n.id === "g4" ? { ...n, severity: "nonfinite" } : n));
  nodes.push({
    id: "b0",
    kind: "birth",
    label: "☢ NaN born: addmm — model.py:14",
    module: "head",
    severity: "nonfinite",
    where: "/home/u/project/model.py:14",
    code: "return self.head(torch.relu(h))",
    verdict: null,
    tensor: null,
    op: null,
    birth: { kind: "nan", phase: "forward", op: "addmm", detail: "from an Inf input", masked_by: null, masked_where: null },
  });
  const edges = [...graph.edges, { source: "b0", target: "g4", kind: "birth" }];
  return { graph: { ...graph, nodes, edges }, edgeNorms, hists };
}
