import { Window } from "happy-dom";
import { describe, expect, it } from "vitest";
import { normRangeOf, toDot } from "../src/dot.js";
import { indexGraph } from "../src/graph-index.js";
import { createLayoutEngine } from "../src/layout/core.js";
import { clearSpot, clearTitles, detour, pathPoints, shortTitles, titleBox } from "../src/layout/titles.js";
import { toFloat32 } from "../src/state.js";
import { initialView, visibleGraph } from "../src/visible.js";
import { smallModel, syntheticGraph } from "./helpers.js";

const engine = createLayoutEngine();
const parse = (text) => new new Window().DOMParser().parseFromString(text, "image/svg+xml").documentElement;

/** Graphviz's estimate of each cluster title's width, as laid out (its label centred, left-justified). */
function estimates(svg) {
  return new Map(
    [...svg.querySelectorAll("g.cluster > text")].map((text) => {
      const xs = pathPoints(text.parentNode.querySelector(":scope > path").getAttribute("d")).map(([x]) => x);
      return [text, 2 * (Number(text.getAttribute("x")) - Math.min(...xs) - 8)];
    }),
  );
}

/** Edges x titles where an edge's course passes through a cluster title's box. */
function crossings(svg, widths) {
  const found = [];
  for (const text of svg.querySelectorAll("g.cluster > text")) {
    const xs = pathPoints(text.parentNode.querySelector(":scope > path").getAttribute("d")).map(([x]) => x);
    const title = { x: Number(text.getAttribute("x")), y: Number(text.getAttribute("y")), size: 10, left: Math.min(...xs), right: Math.max(...xs) };
    const shown = text.firstChild.textContent; // the drawn text (a <title> child holds the whole one)
    title.width = (widths.get(text) * shown.length) / text.textContent.length; // shortened: scaled
    const box = titleBox(title);
    for (const path of svg.querySelectorAll("g.edge > path")) {
      const inside = pathPoints(path.getAttribute("d")).some(([x, y]) => x > box.left && x < box.right && y > box.top && y < box.bottom);
      if (inside) found.push(`${path.parentNode.querySelector("title").textContent} x ${shown}`);
    }
  }
  return found;
}

async function layout(graph, edgeNorms) {
  const index = indexGraph(graph);
  const norms = toFloat32(edgeNorms);
  const visible = visibleGraph(index, initialView(index), norms);
  return engine.layout(toDot(index, visible, normRangeOf(norms)));
}

describe("module titles clear of edges (NOTE [clear titles])", () => {
  it("reads Graphviz's paths: M then cubic segments, sampled densely", () => {
    const points = pathPoints("M0,0C0,-10 0,-20 0,-30");
    expect(points[0]).toEqual([0, 0]);
    expect(points.at(-1)).toEqual([0, -30]);
    expect(points.length).toBeGreaterThan(15);
  });

  it("keeps a title no edge crosses, and moves one an edge crosses to the first gap", () => {
    const title = { x: 58, y: -100, size: 10, left: 0, right: 300, width: 100 };
    expect(clearSpot(title, [[200, -100]])).toBe(53); // 3 from the border
    const spot = clearSpot(title, [[60, -101]]);
    expect(spot - 50).toBeGreaterThanOrEqual(62.5); // right of the edge, with clearance
    expect(clearSpot({ ...title, right: 120 }, [[60, -101]])).toBeNull(); // no room either side
  });

  it("shortens a title by its parent's path, then its type", () => {
    expect(shortTitles("▾ transformer.ln_f · LayerNorm")).toEqual(["▾ …ln_f · LayerNorm", "▾ …ln_f"]);
    expect(shortTitles("▾ head · Linear")).toEqual(["▾ head"]);
    expect(shortTitles("▾ blocks.5.mlp.0 · Linear")).toEqual(["▾ …mlp.0 · Linear", "▾ …mlp.0"]);
  });

  it("bends an edge around a title it must cross, through the box's margin", () => {
    const title = { x: 58, y: -100, size: 10, left: 0, right: 116, width: 100 };
    const course = pathPoints("M50,-60C50,-80 50,-120 50,-140");
    const bent = detour(course, title);
    const box = titleBox(title);
    expect(bent.some(([x, y]) => x > box.left && x < box.right && y > box.top && y < box.bottom)).toBe(false);
    expect(bent[0]).toEqual([50, -60]);
    expect(bent.at(-1)).toEqual([50, -140]);
  });

  it("leaves no edge through a title of a laid-out transformer", async () => {
    const graph = syntheticGraph({ blocks: 3, withCut: true });
    const svg = parse(await layout(graph, new DataView(new ArrayBuffer(0))));
    const widths = estimates(svg);
    expect(crossings(svg, widths).length).toBeGreaterThan(0); // Graphviz's own placement: struck through
    clearTitles(svg);
    expect(crossings(svg, widths)).toEqual([]);
  });

  it("leaves no edge through a title of the small model", async () => {
    const { graph, edgeNorms } = smallModel();
    const svg = parse(await layout(graph, edgeNorms));
    const widths = estimates(svg);
    clearTitles(svg);
    expect(crossings(svg, widths)).toEqual([]);
  });
});
