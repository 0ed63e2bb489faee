// Stand-in for "torchviz make_dot + dot": lay out the whole, flat graph of a widget state (no
// collapsing) with the same WASM Graphviz the widget uses, in Node. Prints one JSON line:
// {"nodes": n, "ms": t} or {"nodes": n, "error": "..."}.
// Usage: node benchmarks/flat_layout.mjs STATE.json   (the graph trait, as JSON)
import { readFileSync } from "node:fs";
import { toDot } from "../js/src/dot.js";
import { indexGraph } from "../js/src/graph-index.js";
import { createLayoutEngine } from "../js/src/layout/core.js";
import { visibleGraph } from "../js/src/visible.js";

const graph = JSON.parse(readFileSync(process.argv[2], "utf8"));
const index = indexGraph(graph);
const dot = toDot(index, visibleGraph(index, { collapsed: new Set(), problemsOnly: false }), null);
const engine = createLayoutEngine();
await engine.layout("digraph { a -> b }"); // instance creation is not layout time
const start = performance.now();
try {
  await engine.layout(dot);
  console.log(JSON.stringify({ nodes: index.byId.size, ms: performance.now() - start }));
} catch (err) {
  console.log(JSON.stringify({ nodes: index.byId.size, error: String(err?.message ?? err) }));
}
