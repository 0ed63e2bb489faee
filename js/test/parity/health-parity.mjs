// Parity of the watch view's health with Python's (tests/js/test_wire_parity.py runs this).
//
//   node js/test/parity/health-parity.mjs input.json   ->   JSON on stdout
//
// The input holds watch states built by Python (gradviz/view/_watch_state.py build_watch_state),
// the bytes traits as base64. Each state is decoded the way the widget decodes it (bytes as
// DataViews, read by js/src/watch/data.js) and judged by js/src/watch/health.js; the output is
// what the front end says of every cell, row and run. Also decoded: wire numbers (types.js
// readNumber, format.js formatNumber) and the graph fields that carry them.
import { readFileSync } from "node:fs";
import { formatNumber } from "../../src/format.js";
import { readNumber } from "../../src/types.js";
import { readWatch } from "../../src/watch/data.js";
import { HEALTH, countsText, healthAt, phrase, runText, stepCounts, worstOverRun } from "../../src/watch/health.js";

const BYTES_TRAITS = new Set(["steps", "grad_norm", "param_norm", "update_ratio", "state", "edge_norms", "hists"]);

/** A bytes trait as anywidget hands it over: a DataView (here over a Node buffer, maybe unaligned). */
function dataView(base64) {
  const buf = Buffer.from(base64, "base64");
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** The watch model as the widget sees it: JSON traits as they are, bytes traits as DataViews. */
function modelOf(traits) {
  const values = {};
  for (const [key, value] of Object.entries(traits)) values[key] = BYTES_TRAITS.has(key) ? dataView(value) : value;
  return { get: (key) => values[key] };
}

/** A decoded number in JSON: non-finite ones by name. */
const encode = (x) => (x === null ? null : Number.isFinite(x) ? x : String(x));

function judge(traits) {
  const data = readWatch(modelOf(traits));
  const rows = Array.from({ length: data.rows }, (_, row) => row);
  const columns = Array.from({ length: data.params }, (_, c) => c);
  const counts = rows.map((row) => stepCounts(data, row));
  return {
    names: data.names,
    rows: data.rows,
    steps: Array.from(data.steps.subarray(0, data.rows)),
    frozen: data.frozen,
    moves: data.moves,
    vanish: data.vanish,
    health: rows.map((row) => columns.map((c) => healthAt(data, row, c))),
    counts,
    counts_text: counts.map((c) => countsText(c, data.vanish)),
    worst: worstOverRun(data).map((w) => w.kind),
    run_text: runText(data),
  };
}

/** Every wire number of a graph, by where it is: [path, decoded, formatted]. */
function graphNumbers(graph) {
  const out = [];
  const add = (path, value) => out.push([path, encode(readNumber(value)), formatNumber(value)]);
  const summary = (path, s) => {
    if (!s) return;
    for (const key of ["min", "max", "mean", "std", "norm"]) add(`${path}.${key}`, s[key]);
  };
  (graph.verdicts ?? []).forEach((v, i) => add(`verdicts[${i}].grad_norm`, v.grad_norm));
  for (const n of graph.nodes ?? []) {
    if (n.op) add(`${n.id}.op.grad_norm_in`, n.op.grad_norm_in);
    summary(`${n.id}.tensor.value`, n.tensor?.value);
    summary(`${n.id}.tensor.grad`, n.tensor?.grad);
  }
  return out;
}

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const output = {
  health_kinds: HEALTH,
  cases: Object.fromEntries(Object.entries(input.cases ?? {}).map(([name, traits]) => [name, judge(traits)])),
  numbers: (input.numbers ?? []).map((x) => ({ decoded: encode(readNumber(x)), formatted: formatNumber(x) })),
  graphs: Object.fromEntries(Object.entries(input.graphs ?? {}).map(([name, graph]) => [name, graphNumbers(graph)])),
  phrases: (input.thresholds ?? []).map((vanish) => phrase("vanishing", 2, vanish)),
};
process.stdout.write(JSON.stringify(output));
