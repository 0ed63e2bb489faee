import { describe, expect, it } from "vitest";
import { indexGraph } from "../src/graph-index.js";
import {
  FIRST_VIEW_NODES,
  drawnAs,
  expandWithin,
  initialCollapsed,
  isCollapsedAt,
  moduleNodeId,
  moduleOfNodeId,
  problemNodeIds,
  revealModule,
  visibleGraph,
} from "../src/visible.js";
import { smallModel, syntheticGraph } from "./helpers.js";

const ids = (visible) => visible.items.map((i) => i.id).sort();

describe("collapse and expand", () => {
  const { graph } = smallModel();
  const index = indexGraph(graph);

  it("opens a small graph fully expanded", () => {
    expect(initialCollapsed(index).size).toBe(0);
    expect(visibleGraph(index, { collapsed: new Set(), problemsOnly: false }).items).toHaveLength(graph.nodes.length);
  });

  it("draws a collapsed module as one node and merges its edges", () => {
    const head = index.modules.get("head");
    const visible = visibleGraph(index, { collapsed: new Set(["head"]), problemsOnly: false });
    const id = moduleNodeId(head);
    expect(ids(visible)).toContain(id);
    expect(ids(visible)).not.toContain("g4");
    expect(ids(visible)).not.toContain("g9");
    // head's inner edges vanish; g4 -> g2 becomes module -> g2; the cut now ends at the module
    const edges = visible.edges.map((e) => `${e.source}>${e.target}:${e.kind}`);
    expect(edges).toContain(`${id}>g2:grad`);
    expect(edges).toContain(`c0>${id}:cut`);
    expect(edges.filter((e) => e.startsWith(`${id}>${id}`))).toEqual([]);
    expect(moduleOfNodeId(index, id)).toBe(head);
    expect(moduleOfNodeId(index, "g4")).toBeNull();
  });

  it("keeps the largest captured norm of merged edges", () => {
    const norms = new Float32Array(graph.edges.length).fill(NaN);
    const intoHead = graph.edges.findIndex((e) => e.source === "g4" && e.target === "g2");
    norms[intoHead] = 0.5;
    const visible = visibleGraph(index, { collapsed: new Set(["head"]), problemsOnly: false }, norms);
    const merged = visible.edges.find((e) => e.target === "g2" && e.source === moduleNodeId(index.modules.get("head")));
    expect(merged.norm).toBe(0.5);
  });

  it("names what a hidden node is drawn as", () => {
    const head = index.modules.get("head");
    expect(drawnAs(index, new Set(["head"]), "g9")).toBe(moduleNodeId(head));
    expect(drawnAs(index, new Set(["head"]), "p0")).toBe("p0");
  });

  it("knows which modules are hidden by a collapsed ancestor", () => {
    expect(isCollapsedAt(new Set(["blocks"]), "blocks.3.part1")).toBe(true);
    expect(isCollapsedAt(new Set(["blocks.3"]), "blocks.30")).toBe(false);
  });
});

describe("first view of big graphs", () => {
  const graph = syntheticGraph({ blocks: 250, parts: 4, opsPerPart: 4 });
  const index = indexGraph(graph);

  it("is a 5k-node graph", () => {
    expect(graph.nodes.length).toBeGreaterThan(5000);
  });

  it(`collapses to a module depth that keeps at most ${FIRST_VIEW_NODES} drawn nodes`, () => {
    const collapsed = initialCollapsed(index);
    const visible = visibleGraph(index, { collapsed, problemsOnly: false });
    expect(visible.items.length).toBeLessThanOrEqual(FIRST_VIEW_NODES);
    expect(visible.items.length).toBeGreaterThan(1);
    // uniform depth: everything collapsed sits at one depth
    expect(new Set([...collapsed].map((p) => p.split(".").length)).size).toBe(1);
  });

  it("expands one module as deep as a budget allows", () => {
    const start = initialCollapsed(index); // 250 collapsed blocks fit in the first view
    expect(start.has("blocks.3")).toBe(true);
    const whole = expandWithin(index, start, "blocks.3", 300); // 20 nodes: all of it
    expect([...whole].filter((p) => p === "blocks.3" || p.startsWith("blocks.3."))).toEqual([]);
    const tight = expandWithin(index, start, "blocks.3", 10); // only its 4 parts, collapsed
    expect([...tight].filter((p) => p === "blocks.3" || p.startsWith("blocks.3.")).sort()).toEqual(
      ["blocks.3.part0", "blocks.3.part1", "blocks.3.part2", "blocks.3.part3"],
    );
    const top = expandWithin(index, new Set(["blocks"]), "blocks", 300);
    expect(top.has("blocks")).toBe(false);
    expect(top.has("blocks.0")).toBe(true);
    expect(visibleGraph(index, { collapsed: top, problemsOnly: false }).items.length).toBeLessThanOrEqual(302);
  });

  it("reveals a deep module by expanding its ancestors only", () => {
    const next = revealModule(index, initialCollapsed(index), "blocks.7.part2");
    const visible = visibleGraph(index, { collapsed: next, problemsOnly: false });
    const inPart = graph.nodes.filter((n) => n.module === "blocks.7.part2").map((n) => n.id);
    for (const id of inPart) expect(ids(visible)).toContain(id);
    expect(visible.items.length).toBeLessThan(600);
  });
});

describe("only problems", () => {
  it("keeps the red parameters, the cut and its path to the loss", () => {
    const index = indexGraph(smallModel().graph);
    const kept = problemNodeIds(index);
    expect([...kept].sort()).toEqual(["c0", "g0", "g1", "g2", "g4", "p0", "p1"]);
    const visible = visibleGraph(index, { collapsed: new Set(), problemsOnly: true });
    expect(ids(visible)).toEqual(["c0", "g0", "g1", "g2", "g4", "p0", "p1"]);
    expect(visible.boxes).toEqual(new Set(["enc", "head", "<img src=x onerror=alert(1)>"]));
  });

  it("shrinks a big graph to the path from the cut", () => {
    const graph = syntheticGraph({ blocks: 50, parts: 2, opsPerPart: 2 });
    const index = indexGraph(graph);
    const kept = problemNodeIds(index);
    expect(kept.has("c0")).toBe(true);
    expect(kept.has("p1")).toBe(false); // an ok parameter is dropped
    expect(kept.size).toBeLessThan(graph.nodes.length);
  });
});
