import { Window } from "happy-dom";
import { describe, expect, it } from "vitest";
import { normRangeOf, toDot } from "../src/dot.js";
import { indexGraph } from "../src/graph-index.js";
import { createLayoutEngine } from "../src/layout/core.js";
import { toFloat32 } from "../src/state.js";
import { initialCollapsed, visibleGraph } from "../src/visible.js";
import { smallModel, syntheticGraph } from "./helpers.js";

const engine = createLayoutEngine();

function parseSvg(text) {
  const doc = new new Window().DOMParser().parseFromString(text, "image/svg+xml");
  const titled = (selector) => [...doc.querySelectorAll(selector)].map((g) => [g.querySelector("title").textContent, g]);
  return { doc, nodes: new Map(titled("g.node")), clusters: new Map(titled("g.cluster")) };
}

async function render(graph, edgeNorms, collapsed = new Set()) {
  const index = indexGraph(graph);
  const norms = toFloat32(edgeNorms);
  const visible = visibleGraph(index, { collapsed, problemsOnly: false }, norms);
  return { index, svg: parseSvg(await engine.layout(toDot(index, visible, normRangeOf(norms)))) };
}

describe("DOT -> layout -> SVG (WASM Graphviz in node)", () => {
  const { graph, edgeNorms } = smallModel();

  it("draws every node with its state id as the <title>", async () => {
    const { svg } = await render(graph, edgeNorms);
    expect([...svg.nodes.keys()].sort()).toEqual(graph.nodes.map((n) => n.id).sort());
  });

  it("fills exactly the red parameters with the palette's red", async () => {
    const { svg } = await render(graph, edgeNorms);
    const red = [...svg.nodes]
      .filter(([, g]) => g.querySelector("polygon, path").getAttribute("fill") === graph.palette.red)
      .map(([id]) => id);
    expect(red.sort()).toEqual(["p0", "p1"]);
  });

  it("puts the loss above the parameters", async () => {
    const { svg } = await render(graph, edgeNorms);
    const y = (id) => Number(svg.nodes.get(id).querySelector("text").getAttribute("y"));
    expect(y("g0")).toBeLessThan(y("p0")); // SVG y grows downwards
    expect(y("g0")).toBeLessThan(y("g9"));
  });

  it("renders a hostile module name as text, not markup", async () => {
    const { index, svg } = await render(graph, edgeNorms);
    const uid = index.modules.get("<img src=x onerror=alert(1)>").uid;
    const title = svg.clusters.get(`cluster_${uid}`).querySelector("text").textContent;
    expect(title).toBe("▾ <img src=x onerror=alert(1)> · Linear");
    expect(svg.doc.querySelector("img")).toBeNull();
  });

  it("draws a collapsed module as one node", async () => {
    const { index, svg } = await render(graph, edgeNorms, new Set(["head"]));
    const id = `__module_${index.modules.get("head").uid}`;
    expect(svg.nodes.get(id).textContent).toContain("▸ head");
    expect(svg.nodes.has("g4")).toBe(false);
  });

  it("lays out the first view of a 5k-node graph", async () => {
    const big = syntheticGraph({ blocks: 250, parts: 4, opsPerPart: 4 });
    const index = indexGraph(big);
    const visible = visibleGraph(index, { collapsed: initialCollapsed(index), problemsOnly: false });
    const svg = parseSvg(await engine.layout(toDot(index, visible, null)));
    expect(svg.nodes.size).toBe(visible.items.length);
  });
});

describe("layout engine recovery", () => {
  it("recreates the WASM instance and retries once after an error", async () => {
    let made = 0;
    const engine = createLayoutEngine(async () => {
      made++;
      const broken = made === 1;
      return {
        renderString: () => {
          if (broken) throw new Error("table index is out of bounds");
          return "<svg/>";
        },
      };
    });
    await expect(engine.layout("digraph {}")).resolves.toBe("<svg/>");
    expect(made).toBe(2);
  });

  it("reports the second error", async () => {
    const engine = createLayoutEngine(async () => ({
      renderString: () => {
        throw new Error("syntax error in line 1");
      },
    }));
    await expect(engine.layout("digraph {")).rejects.toThrow("syntax error");
  });

  it("reports Graphviz's message for invalid DOT", async () => {
    await expect(createLayoutEngine().layout("digraph { a -> }")).rejects.toThrow(/syntax error/);
  });
});

describe("folds, groups and births laid out", async () => {
  const { initialView } = await import("../src/visible.js");
  const { birthModel, checkpointGraph } = await import("./helpers.js");

  it("keeps the gv- classes in Graphviz's SVG, for the theme", async () => {
    const { graph, edgeNorms } = birthModel();
    const { svg } = await render(graph, edgeNorms);
    expect(svg.nodes.get("b0").getAttribute("class")).toBe("node gv-birth");
    expect(svg.nodes.get("g4").getAttribute("class")).toBe("node gv-op gv-flagged");
    expect(svg.nodes.get("g4").querySelector("path, polygon").getAttribute("fill")).toBe(graph.palette.nonfinite);
    const edge = [...svg.doc.querySelectorAll("g.edge")].find((g) => g.querySelector("title").textContent === "b0->g4");
    expect(edge.getAttribute("class")).toBe("edge gv-birth");
    expect([...svg.clusters.values()].every((g) => g.getAttribute("class") === "cluster gv-box")).toBe(true);
  });

  it("draws 12 checkpointed parameters as one group box", async () => {
    const index = indexGraph(checkpointGraph(2));
    const text = await engine.layout(toDot(index, visibleGraph(index, initialView(index)), null));
    const svg = parseSvg(text);
    expect([...svg.nodes.keys()].sort()).toEqual(["__group_0", "c0", "g0", "g1", "g2"]);
    const label = [...svg.nodes.get("__group_0").querySelectorAll("text")].map((t) => t.textContent).join(" ");
    expect(label).toContain("blocks.* — 12 parameters, checkpoint");
  });
});
