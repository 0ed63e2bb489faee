import { describe, expect, it } from "vitest";
import { normRangeOf, toDot } from "../src/dot.js";
import { escapeDotText } from "../src/escape.js";
import { indexGraph } from "../src/graph-index.js";
import { toFloat32 } from "../src/state.js";
import { visibleGraph } from "../src/visible.js";
import { smallModel } from "./helpers.js";

function dotOf(graph, edgeNorms = new Float32Array(0), collapsed = new Set()) {
  const index = indexGraph(graph);
  const visible = visibleGraph(index, { collapsed, problemsOnly: false }, edgeNorms);
  return { index, dot: toDot(index, visible, normRangeOf(edgeNorms)) };
}

/** The attribute list of DOT node `id`. */
const nodeLine = (dot, id) => dot.split("\n").find((l) => l.trimStart().startsWith(`"${id}" [`));

describe("state -> DOT", () => {
  const { graph, edgeNorms } = smallModel();
  const norms = toFloat32(edgeNorms);
  const { index, dot } = dotOf(graph, norms);

  it("draws the loss at the top (edges run forward, ranks bottom to top)", () => {
    expect(dot).toMatch(/rankdir=BT/);
    expect(nodeLine(dot, "g0")).toContain(`fillcolor="${graph.palette.loss}"`);
  });

  it("puts every module with nodes in its own cluster, parameters inside", () => {
    for (const path of ["enc", "head", "<img src=x onerror=alert(1)>"]) {
      const uid = index.modules.get(path).uid;
      expect(dot).toContain(`subgraph cluster_${uid} {`);
    }
    const enc = dot.slice(dot.indexOf(`subgraph cluster_${index.modules.get("enc").uid} {`));
    expect(enc.slice(0, enc.indexOf("}"))).toContain('"p0" [');
  });

  it("colours parameters by severity through the palette", () => {
    expect(nodeLine(dot, "p0")).toContain(`fillcolor="${graph.palette.red}"`);
    expect(nodeLine(dot, "p1")).toContain(`fillcolor="${graph.palette.red}"`);
    expect(nodeLine(dot, "g9")).toContain(`fillcolor="${graph.palette.ok}"`);
    expect(nodeLine(dot, "g2")).toContain(`fillcolor="${graph.palette.op}"`);
  });

  it("labels parameters with their name (inside the module box) and shape", () => {
    expect(nodeLine(dot, "p0")).toContain('label="weight\\n(4, 3)"');
  });

  it("draws cut edges dashed in the cut colour", () => {
    const cuts = dot.split("\n").filter((l) => l.includes("->") && l.includes("style=dashed"));
    expect(cuts.map((l) => l.trim().split(" [")[0]).sort()).toEqual(['"c0" -> "g4"', '"p0" -> "c0"', '"p1" -> "c0"']);
    for (const l of cuts) expect(l).toContain(`color="${graph.palette.cut}"`);
  });

  it("widens edges with larger captured gradient norms", () => {
    const widths = dot
      .split("\n")
      .filter((l) => l.includes("->") && !l.includes("dashed"))
      .map((l) => Number(/penwidth=([\d.]+)/.exec(l)[1]));
    expect(Math.max(...widths)).toBeGreaterThan(Math.min(...widths));
  });

  it("escapes user text in module labels", () => {
    const uid = index.modules.get("<img src=x onerror=alert(1)>").uid;
    const block = dot.slice(dot.indexOf(`subgraph cluster_${uid} {`));
    expect(block).toContain('label="▾ <img src=x onerror=alert(1)> · Linear"');
  });
});

describe("DOT escaping", () => {
  it("escapes quotes, backslashes, entities and line breaks", () => {
    expect(escapeDotText('a"b\\c')).toBe('a\\"b\\\\c');
    expect(escapeDotText("x &lt; y")).toBe("x &amp;lt; y");
    expect(escapeDotText("one\ntwo\r\nthree")).toBe("one two three");
    expect(escapeDotText("\\N\\G")).toBe("\\\\N\\\\G");
  });

  it("cannot break out of a quoted label", () => {
    const nasty = 'evil" ]; "x" [label="pwned';
    const graph = {
      palette: {},
      modules: [{ path: nasty, type: 'T"' }],
      nodes: [{ id: "g0", kind: "op", label: nasty, module: nasty }],
      edges: [],
    };
    const { dot } = dotOf(graph);
    const statements = dot.split("\n").filter((l) => l.includes('"x"'));
    for (const l of statements) expect(l).toContain('evil\\" ]; \\"x\\" [label=\\"pwned');
  });
});

describe("folds, groups and markers in DOT", () => {
  it("draws a fold of repeated blocks as one box with its count, a group as one box in its colour", async () => {
    const { initialView } = await import("../src/visible.js");
    const { checkpointGraph, syntheticGraph } = await import("./helpers.js");
    const big = indexGraph(syntheticGraph({ blocks: 12, parts: 3, opsPerPart: 3 }));
    const dot = toDot(big, visibleGraph(big, initialView(big)), null);
    const fold = nodeLine(dot, "__fold_0");
    expect(fold).toContain('label="▸ blocks.1–11 · Block ×11\\n132 nodes"');
    expect(fold).toContain('class="gv-fold"');
    const cp = indexGraph(checkpointGraph(2));
    const dot2 = toDot(cp, visibleGraph(cp, initialView(cp)), null);
    const group = nodeLine(dot2, "__group_0");
    expect(group).toContain('label="blocks.* — 12 parameters, checkpoint');
    expect(group).toContain(`fillcolor="${cp.graph.palette.red}"`);
    expect(group).toContain('class="gv-group"');
    expect(dot2.split("\n").filter((l) => l.includes('"__group_0" -> "c0"'))).toHaveLength(1);
  });

  it("draws a NaN birth marker with a dashed edge to the op it marks, drawn in the nonfinite colour", async () => {
    const { birthModel } = await import("./helpers.js");
    const { graph } = birthModel();
    const { dot } = dotOf(graph);
    expect(nodeLine(dot, "b0")).toContain('label="☢ NaN born: addmm — model.py:14"');
    expect(nodeLine(dot, "b0")).toContain('class="gv-birth"');
    expect(nodeLine(dot, "g4")).toContain(`fillcolor="${graph.palette.nonfinite}"`);
    expect(nodeLine(dot, "g4")).toContain('class="gv-op gv-flagged"');
    const edge = dot.split("\n").find((l) => l.includes('"b0" -> "g4"'));
    expect(edge).toContain("style=dashed");
    expect(edge).toContain(`color="${graph.palette.nonfinite}"`);
  });

  it("tags every node and edge with a gv- class the theme can restyle", () => {
    const { graph } = smallModel();
    const { dot } = dotOf(graph);
    for (const line of dot.split("\n").filter((l) => /^\s+"[^"]+" (\[|->)/.test(l))) expect(line).toMatch(/class="gv-/);
    expect(dot).toMatch(/graph \[label="▾ head · Linear".*class="gv-box"/);
  });
});
