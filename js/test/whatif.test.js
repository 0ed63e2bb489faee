// @vitest-environment happy-dom
// The what-if toggle of a cut marker (ui/whatif.js): what is drawn "would be reached", the inspector's
// toggle, and a drawing given back exactly when the cut is put back.
import { describe, expect, it, vi } from "vitest";
import { indexGraph } from "../src/graph-index.js";
import { toFloat32 } from "../src/state.js";
import { renderInspector } from "../src/ui/inspector.js";
import { whatifLegend } from "../src/ui/legend.js";
import { drawWhatif, removableWhatif, whatifMarks } from "../src/ui/whatif.js";
import { initialView, moduleNodeId } from "../src/visible.js";
import { checkpointGraph, smallModel } from "./helpers.js";

const REACHED = { text: "Without the .detach() at model.py:13: enc.weight, enc.bias would be reached.", removable: true, reached: ["p0", "p1"], still: {} };

/** The small model (enc.weight, enc.bias behind c0) with c0's what-if set to `whatif`. */
function small(whatif = REACHED) {
  const { graph, hists } = smallModel();
  const nodes = graph.nodes.map((n) => (n.kind === "cut" ? { ...n, whatif } : { whatif: null, ...n }));
  return { index: indexGraph({ ...graph, nodes }), hists: toFloat32(hists) };
}

const open = { collapsed: new Set(), problemsOnly: false };

describe("what is drawn with a cut toggled off", () => {
  it("draws each parameter the cut alone keeps from the loss as reached, and crosses out the marker", () => {
    const marks = whatifMarks(small().index, open, "c0");
    expect(marks.marker).toBe("c0");
    expect([...marks.items.keys()].sort()).toEqual(["p0", "p1"]);
    expect(marks.items.get("p0")).toMatchObject({ kind: "reached", reached: ["p0"], still: [] });
    expect(marks.items.get("p0").tip).toBe("enc.weight: would be reached without the cut (it can still get a zero gradient)");
  });

  it("keeps a parameter another cut stops red, with the reason on hover", () => {
    const why = "another cut stops it too: gradients off at model.py:20";
    const marks = whatifMarks(small({ ...REACHED, reached: ["p1"], still: { p0: why } }).index, open, "c0");
    expect(marks.items.get("p0")).toMatchObject({ kind: "still", reached: [], still: ["p0"] });
    expect(marks.items.get("p0").tip).toBe(`enc.weight: still not reached without the cut: ${why}`);
    expect(marks.items.get("p1").kind).toBe("reached");
  });

  it("draws a collapsed module reached when every problem in it would be, partly when some would", () => {
    const { index } = small();
    const box = moduleNodeId(index.modules.get("enc"));
    const collapsed = { ...open, collapsed: new Set(["enc"]) };
    const whole = whatifMarks(index, collapsed, "c0");
    expect([...whole.items.keys()]).toEqual([box]);
    expect(whole.items.get(box)).toMatchObject({ kind: "reached", reached: ["p0", "p1"] });
    expect(whole.items.get(box).tip).toContain("2 parameters here would be reached without the cut");
    const part = whatifMarks(small({ ...REACHED, reached: ["p0"] }).index, collapsed, "c0");
    expect(part.items.get(box)).toMatchObject({ kind: "partly", reached: ["p0"] });
    expect(part.items.get(box).tip).toContain("1 parameter here not behind this cut keep");
  });

  it("marks a group box, and its members one by one once it is drawn open", () => {
    const graph = checkpointGraph(2);
    const all = graph.nodes.filter((n) => n.kind === "param" && n.severity === "red").map((n) => n.id);
    graph.nodes.find((n) => n.id === "c0").whatif = { text: "…", removable: true, reached: all, still: {} };
    const index = indexGraph(graph);
    const view = initialView(index);
    const [group] = index.groups;
    const grouped = whatifMarks(index, view, "c0");
    expect([...grouped.items.keys()]).toEqual([group.id]);
    expect(grouped.items.get(group.id)).toMatchObject({ kind: "reached", reached: all });
    const each = whatifMarks(index, { ...view, groups: new Set() }, "c0");
    expect([...each.items.keys()].sort()).toEqual([...all].sort());
  });

  it("is the same under Only problems (the reached parameters are problems: always kept)", () => {
    const { index } = small();
    expect(whatifMarks(index, { ...open, problemsOnly: true }, "c0")).toEqual(whatifMarks(index, open, "c0"));
  });

  it("has nothing to toggle for a cut that cannot be removed, or a node that is no cut", () => {
    const fixed = small({ text: "Removing it cannot be shown: its values left torch.", removable: false, reached: [], still: {} });
    expect(removableWhatif(fixed.index, "c0")).toBeNull();
    expect(whatifMarks(fixed.index, open, "c0")).toBeNull();
    expect(removableWhatif(small().index, "p0")).toBeNull();
    expect(removableWhatif(small().index, null)).toBeNull();
  });
});

/** A drawing as Graphviz gives it: node groups titled by their DOT ids, edges "a->b". */
function drawing() {
  const host = document.createElement("div");
  host.innerHTML =
    '<svg xmlns="http://www.w3.org/2000/svg" class="gv-svg"><g class="graph">' +
    '<g class="node gv-param"><title>p0</title><polygon fill="#d32f2f" points="0,0 1,1"></polygon><text>weight</text></g>' +
    '<g class="node gv-param"><title>p1</title><polygon fill="#d32f2f" points="0,0 1,1"></polygon><text>bias</text></g>' +
    '<g class="node gv-cut gv-selected"><title>c0</title><polygon points="0,0 1,1"></polygon><text>✂ .detach()</text></g>' +
    '<g class="edge gv-cut"><title>p0-&gt;c0</title><path d="M0,0"></path></g>' +
    '<g class="edge gv-grad"><title>g1-&gt;g0</title><path d="M0,0"></path></g>' +
    "</g></svg>";
  const svg = host.querySelector("svg");
  const nodes = new Map([...svg.querySelectorAll("g.node")].map((g) => [g.querySelector("title").textContent, g]));
  return { svg, nodes };
}

describe("drawing a what-if on the SVG", () => {
  it("crosses out the marker and its edges, outlines what would be reached, and puts the reason on hover", () => {
    const { svg, nodes } = drawing();
    drawWhatif(svg, nodes, whatifMarks(small({ ...REACHED, reached: ["p1"], still: { p0: "another cut" } }).index, open, "c0"));
    expect(nodes.get("c0").classList.contains("gv-whatif-off")).toBe(true);
    expect(svg.querySelector("g.edge.gv-cut").classList.contains("gv-whatif-off")).toBe(true);
    expect(svg.querySelector("g.edge.gv-grad").classList.contains("gv-whatif-off")).toBe(false);
    expect(nodes.get("p1").classList.contains("gv-whatif-reached")).toBe(true);
    expect(nodes.get("p1").dataset.gvReached).toBe("p1");
    expect(nodes.get("p0").classList.contains("gv-whatif-still")).toBe(true);
    expect(nodes.get("p0").querySelector("polygon > title").textContent).toBe("enc.weight: still not reached without the cut: another cut");
    // the node's own <title> stays its DOT id: clicks are mapped back by it
    expect(nodes.get("p0").querySelector(":scope > title").textContent).toBe("p0");
  });

  it("gives the drawing back exactly when the cut is put back", () => {
    const { svg, nodes } = drawing();
    const before = svg.outerHTML;
    drawWhatif(svg, nodes, whatifMarks(small().index, open, "c0"));
    expect(svg.outerHTML).not.toBe(before);
    drawWhatif(svg, nodes, null);
    expect(svg.outerHTML).toBe(before);
  });

  it("switches from one cut's what-if to another's without leaving the first one's marks", () => {
    const { svg, nodes } = drawing();
    drawWhatif(svg, nodes, whatifMarks(small().index, open, "c0"));
    drawWhatif(svg, nodes, whatifMarks(small({ ...REACHED, reached: [] }).index, open, "c0"));
    expect(svg.querySelectorAll(".gv-whatif-reached")).toHaveLength(0);
    expect(svg.querySelectorAll("[data-gv-reached]")).toHaveLength(0);
  });
});

describe("the inspector's toggle", () => {
  /** @param {string} id @param {string|null} active */
  function inspect(id, active, whatif = REACHED) {
    const { index, hists } = small(whatif);
    const panel = document.createElement("aside");
    const set = vi.fn();
    renderInspector(panel, { type: "node", id }, { index, hists, reveal: vi.fn(), toggle: vi.fn(), isCollapsed: () => false, whatif: { active, set } });
    return { panel, set, button: panel.querySelector("button.gv-whatif-toggle") };
  }

  it("on a cut marker: its what-if in words and a button that toggles it off", () => {
    const { panel, set, button } = inspect("c0", null);
    expect(panel.querySelector(".gv-whatif").textContent).toContain(REACHED.text);
    expect(button.textContent).toBe("What if this cut were removed?");
    expect(button.getAttribute("aria-pressed")).toBe("false");
    button.click();
    expect(set).toHaveBeenCalledWith("c0");
  });

  it("toggled off: the button puts the cut back, and the panel lists what would be reached", () => {
    const { panel, set, button } = inspect("c0", "c0");
    expect(button.textContent).toBe("Put the cut back");
    expect(button.getAttribute("aria-pressed")).toBe("true");
    expect(panel.textContent).toContain("Would be reached (2)enc.weightenc.bias");
    button.click();
    expect(set).toHaveBeenCalledWith(null);
  });

  it("a cut that cannot be removed: its words, no toggle", () => {
    const text = "Removing it cannot be shown: its values left torch (.item(), .tolist(), numpy); no identity puts them back.";
    const { panel, button } = inspect("c0", null, { text, removable: false, reached: [], still: {} });
    expect(button).toBeNull();
    expect(panel.querySelector(".gv-whatif").textContent).toContain(text);
  });

  it("a parameter says what the cut toggled off means for it", () => {
    const reached = inspect("p0", "c0").panel.querySelector(".gv-whatif-note").textContent;
    expect(reached).toBe("Would be reached without the cut (✂ .detach() — model.py:13); it can still get a zero gradient.");
    const still = inspect("p0", "c0", { ...REACHED, reached: ["p1"], still: { p0: "another cut stops it too" } });
    expect(still.panel.querySelector(".gv-whatif-note").textContent).toBe("Still not reached without the cut (✂ .detach() — model.py:13): another cut stops it too.");
    expect(inspect("p0", null).panel.querySelector(".gv-whatif-note")).toBeNull();
  });
});

describe("the legend while a cut is toggled off", () => {
  it("says what the green dashed outline means, and that a reached parameter can get a zero gradient", () => {
    expect(whatifLegend({ cut: "#d32f2f" }).textContent).toContain("would be reached without the cut (can still get a zero gradient)");
  });
});
