// What the watch view says about learning (health.js), the module bands of its heatmap
// (rows.js) and the series its charts plot before any click (series.js).
import { describe, expect, it } from "vitest";
import { readWatch } from "../src/watch/data.js";
import { countsText, healthAt, runText, stepCounts, worstOverRun } from "../src/watch/health.js";
import { bandsAbove, displayLines, initialExpanded, moduleTree, placeLines } from "../src/watch/rows.js";
import { columnValues, median, medianValues, worstColumns } from "../src/watch/series.js";
import { STATES, fakeModel, watchTraits } from "./watch-helpers.js";

const read = (options) => readWatch(fakeModel(watchTraits(options)));

describe("health of a cell", () => {
  it("learns only with a finite gradient above `vanish` that the optimizer was not seen ignoring", () => {
    const names = ["ok", "nan", "zero", "none", "frozen", "tiny", "stuck"];
    const cells = { "0,1": [STATES.NONFINITE, NaN], "0,2": [STATES.ZERO, 0], "0,3": [STATES.NONE, NaN], "0,4": [STATES.NONE, NaN], "0,5": [STATES.FINITE, 1e-9] };
    const timeline = { frozen: [false, false, false, false, true, false, false], moves: [true, null, null, null, null, null, false] };
    const data = read({ names, rows: 1, cells, timeline });
    expect(names.map((_, c) => healthAt(data, 0, c))).toEqual(["learn", "nonfinite", "zero", "none", "frozen", "vanishing", "unchanged"]);
    expect(countsText(stepCounts(data, 0), data.vanish)).toBe(
      "1 learns, 1 with NaN/Inf gradients, 1 with zero gradients, 1 without a gradient, 1 unchanged by the optimizer, 1 vanishing (norm < 1e-7), 1 frozen",
    );
  });

  it("says 'all learn' only when every parameter learns; frozen is counted apart", () => {
    const data = read({ names: ["a", "b", "c"], rows: 2, cells: { "1,2": [STATES.NONE, NaN] }, timeline: { frozen: [false, false, true] } });
    expect(countsText(stepCounts(data, 0), data.vanish)).toBe("all 3 learn");
    expect(countsText(stepCounts(data, 1), data.vanish)).toBe("2 learn, 1 frozen");
    expect(countsText({ learn: 1 }, 1e-7)).toBe("it learns");
  });

  it("sums up a run by the worst each parameter reached, with the step it first did", () => {
    const cells = { "3,0": [STATES.ZERO, 0], "4,0": [STATES.ZERO, 0], "5,1": [STATES.NONFINITE, NaN] };
    const data = read({ names: ["a", "b", "c"], rows: 6, steps: [0, 10, 20, 30, 40, 50], cells });
    const worst = worstOverRun(data);
    expect(worst.map((w) => [w.kind, w.row])).toEqual([
      ["zero", 3],
      ["nonfinite", 5],
      ["learn", -1],
    ]);
    expect(runText(data, worst)).toBe("over 6 recorded steps: 1 learns at every step; 1 with NaN/Inf gradients, first at step 50; 1 with zero gradients, first at step 30");
    expect(runText(read({ names: ["a", "b"], rows: 2 }))).toBe("over 2 recorded steps: all 2 learn at every step");
  });
});

describe("module bands", () => {
  const gpt = (layers) => {
    const names = ["tok.weight"];
    for (let i = 0; i < layers; i++) {
      for (const part of ["ln1", "qkv", "proj", "ln2", "mlp.0", "mlp.2"]) names.push(`blocks.${i}.${part}.weight`, `blocks.${i}.${part}.bias`);
    }
    names.push("ln_f.weight", "ln_f.bias", "head.weight");
    return names;
  };
  const modulesOf = (names) => names.map((n) => n.slice(0, n.lastIndexOf(".")));

  it("makes a band of each module holding submodules; plain modules are rows", () => {
    const tree = moduleTree(modulesOf(gpt(2)));
    expect(tree.bands.map((b) => [b.path, b.columns.length, b.depth])).toEqual([
      ["blocks", 24, 0],
      ["blocks.0", 12, 1],
      ["blocks.0.mlp", 4, 2],
      ["blocks.1", 12, 1],
      ["blocks.1.mlp", 4, 2],
    ]);
    expect(tree.order).toEqual([...Array(28).keys()]); // model order: named_parameters is depth-first already
  });

  it("skips wrapper modules with a single child", () => {
    const tree = moduleTree(["model.net.enc", "model.net.enc", "model.net.head"]);
    expect(tree.root.children.map((c) => c.path)).toEqual(["model.net.enc", "model.net.head"]);
    expect(tree.bands).toEqual([]);
  });

  it("opens whole levels while the first view stays within budget: a 12-layer GPT shows its 12 blocks", () => {
    const names = gpt(12);
    expect(names).toHaveLength(148);
    const tree = moduleTree(modulesOf(names));
    const expanded = initialExpanded(tree, 40);
    expect([...expanded]).toEqual(["blocks"]);
    const lines = displayLines(tree, expanded);
    expect(lines.map((l) => (l.kind === "band" ? `[${l.node.path}]` : names[l.column]))).toEqual([
      "tok.weight",
      "[blocks]",
      ...Array.from({ length: 12 }, (_, i) => `[blocks.${i}]`),
      "ln_f.weight",
      "ln_f.bias",
      "head.weight",
    ]);
    expect(lines.map((l) => l.depth).slice(0, 4)).toEqual([0, 0, 1, 1]);
  });

  it("draws every parameter of an open band with its module's gap, and reveals a hidden one", () => {
    const names = gpt(2);
    const tree = moduleTree(modulesOf(names));
    const column = names.indexOf("blocks.1.mlp.2.bias");
    const path = bandsAbove(tree, column);
    expect(path).toEqual(["blocks", "blocks.1", "blocks.1.mlp"]);
    const lines = displayLines(tree, new Set(path));
    const shown = lines.map((l) => (l.kind === "band" ? `[${l.node.path}]` : names[l.column]));
    expect(shown).toContain("blocks.1.mlp.2.bias");
    expect(shown).toContain("[blocks.0]"); // a sibling stays closed
    const height = placeLines(lines, 15, 3);
    const gaps = lines.filter((l) => l.gap).length;
    expect(height).toBe(lines.length * 15 + gaps * 3);
    const first = lines.findIndex((l) => l.kind === "param" && names[l.column] === "blocks.1.ln1.weight");
    expect([lines[first].gap, lines[first + 1].gap]).toEqual([false, false]); // right under its band header; weight and bias together
  });

  it("keeps a 1,000-tensor model readable: a few dozen rows first", () => {
    const names = Array.from({ length: 1000 }, (_, i) => `stages.${i >> 8}.blocks.${(i >> 4) & 15}.layers.${(i >> 1) & 7}.${i % 2 ? "bias" : "weight"}`);
    const tree = moduleTree(modulesOf(names));
    const lines = displayLines(tree, initialExpanded(tree, 40));
    expect(lines.length).toBeLessThanOrEqual(40);
    expect(lines.length).toBeGreaterThan(3);
  });
});

describe("chart series", () => {
  it("takes the median of the finite norms per row, and of the measured ratios only", () => {
    const data = read({ names: ["a", "b", "c"], rows: 3, cells: { "0,2": [STATES.NONFINITE, NaN] } });
    const median = medianValues(data, "grad");
    expect(median[0]).toBeCloseTo(1.5); // a=1, b=2; c's NaN left out
    expect(median[1]).toBeCloseTo(2 * 10 ** -0.1);
    const ratio = medianValues(data, "ratio");
    expect([ratio[0], Number.isNaN(ratio[1]), ratio[2]]).toEqual([2e-3, true, 2e-3].map((v) => (typeof v === "number" ? Math.fround(v) : v)));
    expect(Number.isNaN(columnValues(data, "grad", 2)[0])).toBe(true);
  });

  it("picks the parameters furthest from the rest: NaN first, then zero, then the farthest norm", () => {
    const cells = { "4,3": [STATES.ZERO, 0], "6,1": [STATES.NONFINITE, NaN], "2,2": [STATES.FINITE, 1e-6] };
    const data = read({ names: ["a", "b", "c", "d", "e"], rows: 8, cells });
    expect(worstColumns(data, medianValues(data, "grad"), 3)).toEqual([1, 3, 2]);
  });

  it("never picks a frozen parameter for its missing gradient", () => {
    const cells = { "0,0": [STATES.NONE, NaN], "1,0": [STATES.NONE, NaN] };
    const data = read({ names: ["frozen", "b", "c"], rows: 2, cells, timeline: { frozen: [true, false, false] } });
    expect(worstColumns(data, medianValues(data, "grad"), 3)).toEqual([1, 2]); // b and c only, the farther first
  });

  it("takes the median in linear time, equal to the sorted median", () => {
    let seed = 1;
    const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let n = 1; n < 60; n++) {
      for (let trial = 0; trial < 20; trial++) {
        const a = Float32Array.from({ length: n }, () => Math.round(rand() * 10) / 10 ** Math.round(rand() * 5)); // with ties
        const sorted = [...a].sort((p, q) => p - q);
        const want = n % 2 ? sorted[n >> 1] : (sorted[(n >> 1) - 1] + sorted[n >> 1]) / 2;
        expect(median(Float32Array.from(a), n)).toBeCloseTo(want, 12);
      }
    }
  });
});
