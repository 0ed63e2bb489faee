// @vitest-environment happy-dom
// The watch graph's key says what its blue root node is (issue 20): the loss when the model computes it in
// its forward (`timeline.loss_root`, decided in Python: gradviz/view/_watch_state.py), else the model's
// output. Also the inspector of that node.
import { afterEach, describe, expect, it } from "vitest";
import { createLayoutEngine } from "../src/layout/core.js";
import { mountWatch } from "../src/watch/app.js";
import { graphLegend, replayLegend, rootLabel } from "../src/watch/legend.js";
import { smallModel } from "./helpers.js";
import { fakeModel, watchTraits } from "./watch-helpers.js";

const engine = createLayoutEngine();
let cleanups = [];
afterEach(() => {
  cleanups.forEach((fn) => fn());
  cleanups = [];
  document.body.replaceChildren();
});

describe("the key's root entry", () => {
  it("says the loss only when the root is the loss", () => {
    const { graph } = smallModel();
    expect(graphLegend(graph, true).textContent).toContain("the loss, computed in the model's forward");
    expect(graphLegend(graph, true).textContent).not.toContain("the model's output");
    expect(graphLegend(graph, false).textContent).toContain("the model's output (the graph starts there; the loss is not drawn)");
    expect(graphLegend(graph).textContent).toContain("the model's output");
    expect(replayLegend(graph, false, true).textContent).toContain(rootLabel(true, "backward"));
    expect(replayLegend(graph, false, false).textContent).toContain("the model's output (the backward starts there");
  });
});

/** @param {string|null} lossRoot */
function mount(lossRoot) {
  const first = smallModel();
  const params = first.graph.verdicts.filter((v) => v.node);
  const base = watchTraits({ names: params.map((v) => v.name), rows: 3, timeline: { loss_root: { first: lossRoot, replay: null } } });
  base.timeline.nodes = params.map((v) => v.node);
  const values = { ...base, graph: first.graph, edge_norms: first.edgeNorms, hists: first.hists };
  const el = document.createElement("div");
  document.body.append(el);
  cleanups.push(mountWatch(el, fakeModel(values), engine));
  return el;
}

describe("the Graph tab", () => {
  const root = smallModel().graph.nodes.find((n) => n.kind === "loss");
  for (const [lossRoot, key, inspector] of [
    [root.id, "the loss, computed in the model's forward", /^The loss, computed in the model's forward/],
    [null, "the model's output", /^The model's output/],
  ]) {
    it(`keys and inspects the root as ${lossRoot ? "the loss" : "the model's output"}`, async () => {
      const el = mount(lossRoot);
      el.querySelectorAll(".gv-wt-tab")[1].click();
      const drawn = () => Number(el.querySelector(".gradviz-root")?.dataset.draws ?? 0);
      await expect.poll(drawn).toBeGreaterThan(0);
      expect(el.querySelector(".gv-wt-graph .gv-legend").textContent).toContain(key);
      const g = [...el.querySelectorAll("svg.gv-svg g.node")].find((n) => n.querySelector("title").textContent === root.id);
      g.dispatchEvent(new MouseEvent("click", { bubbles: true }));
      await expect.poll(() => el.querySelector(".gv-watch-inspect")?.textContent ?? "").toMatch(inspector);
    });
  }
});

describe("the replayed graph's roots, in words", () => {
  const node = /** @type {any} */ ({ id: "r1", label: "UnsafeViewBackward0", kind: "loss" });
  it("an output beside the loss the model computed is not said to have its loss outside", async () => {
    const { replayOutputText } = await import("../src/watch/app.js");
    const beside = replayOutputText(node, 60, false, true);
    expect(beside).toContain("Another output of the model at step 60");
    expect(beside).not.toContain("outside the model");
    expect(replayOutputText(node, 60, false, false)).toContain("The loss is computed outside the model");
    expect(replayOutputText(node, 60, true, true)).toContain("The loss at step 60, computed in the model's forward");
  });
});
