// Test inputs: the checked-in small-model state and synthetic graphs built to js/STATE.md.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const FIXTURE = resolve(dirname(fileURLToPath(import.meta.url)), "../../tests/browser/fixtures/small_model.json");

/** The small model (two red parameters behind one .detach() cut): {graph, edgeNorms, hists}. */
export function smallModel() {
  const state = JSON.parse(readFileSync(FIXTURE, "utf8"));
  const bytes = (b64) => new DataView(Uint8Array.from(Buffer.from(b64, "base64")).buffer);
  return { graph: state.graph, edgeNorms: bytes(state.edge_norms), hists: bytes(state.hists) };
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
  return { version: 1, kind: "trace", title: "synthetic", palette: PALETTE, legend: [], nodes, edges, modules, verdicts: [], notes: [], error: null };
}
