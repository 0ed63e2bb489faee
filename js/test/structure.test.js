// Folds of repeated blocks, groups of parameters behind one marker, modules placed for graphs
// captured without a forward trace, and the first view that shows what is wrong.
import { describe, expect, it } from "vitest";
import { GROUP_MIN, indexGraph } from "../src/graph-index.js";
import {
  FOLD_ABOVE,
  drawnAs,
  focusNodeIds,
  initialView,
  problemNodeIds,
  revealIn,
  revealNode,
  visibleGraph,
} from "../src/visible.js";
import { birthModel, checkpointGraph, smallModel, syntheticGraph } from "./helpers.js";

const ids = (visible) => visible.items.map((i) => i.id).sort();

describe("folds of repeated blocks", () => {
  const graph = syntheticGraph({ blocks: 12, parts: 3, opsPerPart: 3 });
  const index = indexGraph(graph);

  it("fold runs of numbered siblings with one structure, never a block that holds a problem", () => {
    // block 0 holds the red parameter: the run is blocks 1-11
    expect(index.folds.map((f) => f.label)).toEqual(["blocks.1–11 · Block ×11"]);
    const [fold] = index.folds;
    expect(fold.members).toHaveLength(11);
    expect(fold.members[0]).toBe("blocks.1");
    expect(fold.total).toBe(11 * 3 * 4);
    expect(index.foldOf.get("blocks.7")).toBe(fold);
    expect(index.foldOf.has("blocks.0")).toBe(false);
  });

  it("does not fold blocks whose structure differs", () => {
    const g = syntheticGraph({ blocks: 4, parts: 2, opsPerPart: 2 });
    g.nodes.push({ id: "extra", kind: "op", label: "MulBackward0", module: "blocks.2.part1", severity: null });
    const runs = indexGraph(g).folds.map((f) => f.members);
    expect(runs).toEqual([]); // blocks 1, 2, 3: block 2 differs, so no run of two is left
  });

  it("draws a fold as one node with merged edges, and each block again once opened", () => {
    const [fold] = index.folds;
    const folded = visibleGraph(index, { collapsed: new Set(), problemsOnly: false, folds: new Set([fold.id]) });
    expect(ids(folded)).toContain(fold.id);
    const item = folded.items.find((i) => i.id === fold.id);
    expect(item.container).toBe("blocks");
    expect(item.count).toBe(fold.total);
    // one edge in, from the end of block 0, and one out, to the loss; the 10 edges between blocks vanish
    const touching = folded.edges.filter((e) => e.target === fold.id || e.source === fold.id);
    expect(touching).toHaveLength(2);
    expect(index.byId.get(touching.find((e) => e.target === fold.id).source).module).toMatch(/^blocks\.0\./);
    expect(touching.find((e) => e.source === fold.id).target).toBe("g0");
    const opened = revealIn(index, { collapsed: new Set(), problemsOnly: false, folds: new Set([fold.id]) }, "blocks.4.part1");
    expect(opened.folds.has(fold.id)).toBe(false);
    const visible = visibleGraph(index, opened);
    expect(ids(visible)).toContain("p56"); // blocks.4.part1.weight
    expect(ids(visible)).toContain(`__module_${index.modules.get("blocks.5").uid}`); // its siblings, collapsed
  });
});

describe("groups of parameters behind one marker", () => {
  const graph = checkpointGraph(2);
  const index = indexGraph(graph);

  it("groups the parameters that share one marker and one verdict", () => {
    expect(index.groups).toHaveLength(1);
    const [group] = index.groups;
    expect(group.label).toBe("blocks.* — 12 parameters, checkpoint");
    expect(group.marker).toBe("c0");
    expect(group.container).toBe("blocks");
    expect(group.severity).toBe("red");
    expect(group.members).toHaveLength(12);
  });

  it("draws the group as one box with one dashed edge to the marker", () => {
    const view = initialView(index);
    const visible = visibleGraph(index, view);
    const [group] = index.groups;
    expect(ids(visible)).toEqual(["__group_0", "c0", "g0", "g1", "g2"].sort());
    expect(visible.edges.filter((e) => e.kind === "cut").map((e) => `${e.source}>${e.target}`)).toEqual(["c0>g1", `${group.id}>c0`]);
    expect(visible.items.find((i) => i.id === group.id)).toMatchObject({ container: "blocks", worst: "red", problems: 12 });
  });

  it("opens when one of its parameters is revealed", () => {
    const view = revealNode(index, initialView(index), "p3");
    expect(view.groups.size).toBe(0);
    expect(drawnAs(index, view, "p3")).toBe("p3");
    expect(drawnAs(index, initialView(index), "p3")).toBe("__group_0");
  });

  it(`needs ${GROUP_MIN} parameters: the detached encoder's two stay drawn one by one`, () => {
    expect(indexGraph(smallModel().graph).groups).toEqual([]);
  });

  it("keeps parameters with different verdicts apart", () => {
    const g = checkpointGraph(2);
    g.verdicts = g.verdicts.map((v, i) => (i % 2 ? { ...v, where: "/home/u/gpt.py:70" } : v));
    const groups = indexGraph(g).groups;
    expect(groups.map((x) => x.members.length)).toEqual([6, 6]);
  });
});

describe("first view", () => {
  it("folds repeated blocks only in big graphs", () => {
    const small = indexGraph(syntheticGraph({ blocks: 3, parts: 2, opsPerPart: 2 }));
    expect(small.byId.size).toBeLessThanOrEqual(FOLD_ABOVE);
    expect(initialView(small).folds.size).toBe(0);
    const big = indexGraph(syntheticGraph({ blocks: 12, parts: 3, opsPerPart: 3 }));
    expect(big.byId.size).toBeGreaterThan(FOLD_ABOVE);
    expect(initialView(big).folds.size).toBe(1);
  });

  it("opens every module that holds a problem, however deep", () => {
    const graph = syntheticGraph({ blocks: 250, parts: 4, opsPerPart: 4 });
    const index = indexGraph(graph);
    const view = initialView(index);
    const visible = visibleGraph(index, view);
    expect(ids(visible)).toContain("c0");
    expect(ids(visible)).toContain("p5"); // blocks.0.part0.weight, red
    expect(visible.items.length).toBeLessThan(300);
  });

  it("lists markers first (NaN births before cuts), then problem nodes", () => {
    const { graph } = birthModel();
    expect(focusNodeIds(indexGraph(graph))).toEqual(["b0", "c0", "g4", "p0", "p1"]);
  });

  it("keeps the birth marker, its op and the path to the loss under “only problems”", () => {
    const index = indexGraph(birthModel().graph);
    const kept = problemNodeIds(index);
    for (const id of ["b0", "g4", "g2", "g1", "g0"]) expect(kept.has(id)).toBe(true);
    expect(index.modules.get("head").worst).toBe("nonfinite");
  });
});

describe("modules of graphs captured without a forward trace", () => {
  // A watch graph: parameters know their module, ops do not.
  const graph = {
    palette: {},
    modules: [
      { path: "", type: "Net" },
      { path: "blocks", type: "ModuleList" },
      { path: "blocks.0", type: "Block" },
      { path: "blocks.0.fc", type: "Linear" },
      { path: "blocks.1", type: "Block" },
      { path: "blocks.1.fc", type: "Linear" },
      { path: "head", type: "Linear" },
    ],
    nodes: [
      { id: "out", kind: "loss", label: "ViewBackward0", module: "" },
      { id: "mm", kind: "op", label: "MmBackward0", module: "" },
      { id: "hw", kind: "param", label: "head.weight", module: "head" },
      { id: "add1", kind: "op", label: "AddBackward0", module: "" },
      { id: "fc1", kind: "op", label: "AddmmBackward0", module: "" },
      { id: "w1", kind: "param", label: "blocks.1.fc.weight", module: "blocks.1.fc" },
      { id: "relu", kind: "op", label: "ReluBackward0", module: "" },
      { id: "add0", kind: "op", label: "AddBackward0", module: "" },
      { id: "fc0", kind: "op", label: "AddmmBackward0", module: "" },
      { id: "w0", kind: "param", label: "blocks.0.fc.weight", module: "blocks.0.fc" },
    ],
    edges: [
      ["mm", "out"], ["hw", "mm"], ["add1", "mm"], ["fc1", "add1"], ["add0", "add1"], ["w1", "fc1"],
      ["relu", "fc1"], ["add0", "relu"], ["fc0", "add0"], ["w0", "fc0"],
    ].map(([source, target]) => ({ source, target, kind: "grad" })),
  };
  const index = indexGraph(graph);
  const moduleOf = (id) => index.byId.get(id).module;

  it("puts an op that reads one module's parameters in that module", () => {
    expect(moduleOf("fc0")).toBe("blocks.0.fc");
    expect(moduleOf("fc1")).toBe("blocks.1.fc");
    expect(moduleOf("mm")).toBe("head");
    expect(index.byId.get("fc0").moduleInferred).toBe(true);
  });

  it("puts an op between two modules in their common module; between two blocks, in the block before", () => {
    expect(moduleOf("relu")).toBe("blocks.0"); // between blocks.0.fc and blocks.1.fc: a list runs no ops
    expect(moduleOf("add0")).toBe("blocks.0"); // the residual sum that ends block 0
    expect(moduleOf("add1")).toBe("blocks.1");
    expect(moduleOf("out")).toBe(""); // the root stays where it is
  });

  it("leaves traced graphs alone", () => {
    const { graph: traced } = smallModel();
    const traceIndex = indexGraph(traced);
    for (const n of traced.nodes) expect(traceIndex.byId.get(n.id)).toBe(n);
  });
});
