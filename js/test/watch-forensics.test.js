// @vitest-environment happy-dom
// The watch view's NaN forensics (js/STATE.md, "Forensics"): the birth under the banner's NaN/Inf line,
// and the Graph tab's replayed step, switchable with the first backward's graph, also when the replay
// arrives during a live run.
import { afterEach, describe, expect, it } from "vitest";
import { createLayoutEngine } from "../src/layout/core.js";
import { mountWatch } from "../src/watch/app.js";
import { birthModel, smallModel } from "./helpers.js";
import { STATES, fakeModel, settle, watchTraits } from "./watch-helpers.js";

const HOSTILE = "<img src=x onerror=alert(1)>";
const engine = createLayoutEngine();
let cleanups = [];
afterEach(() => {
  cleanups.forEach((fn) => fn());
  cleanups = [];
  document.body.replaceChildren();
});

/** `timeline.forensics` as gradviz/view/_watch_forensics.py writes it. */
function forensics(replayed = true) {
  const birth = { kind: "nan", phase: "forward", op: "addmm", where: "/home/u/project/model.py:14", short: "model.py:14", code: "x", detail: "", node: "b0" };
  return {
    step: 3,
    replayed,
    from_loss: false,
    births: replayed ? [birth] : [],
    births_total: replayed ? 1 : 0,
    reason: replayed ? "" : `no replay: ${HOSTILE}`,
    text: replayed ? `Replayed step 3: the NaN was born in the forward of addmm at model.py:14 ${HOSTILE}` : `Step 3 was not replayed, so where the NaN/Inf was born is not known: ${HOSTILE}.`,
    title: replayed ? "Step 3, replayed: NaN born in addmm (forward) at model.py:14" : "",
  };
}

/** A run whose parameter 0 goes NaN at row 3, with the first backward's graph and (optionally) the replay. */
function traits({ replayed = true, withForensics = true } = {}) {
  const first = smallModel();
  const params = first.graph.verdicts.filter((v) => v.node);
  const names = params.map((v) => v.name);
  const info = withForensics ? forensics(replayed) : null;
  const base = watchTraits({ names, rows: 5, cells: { "3,0": [STATES.NONFINITE, NaN], "4,0": [STATES.NONFINITE, NaN] }, timeline: { first_nonfinite: { step: 3, name: names[0] }, forensics: info } });
  base.timeline.nodes = params.map((v) => v.node);
  const replay = birthModel();
  const replayTraits = replayed && withForensics ? { replay: { ...replay.graph, title: info.title }, replay_edge_norms: replay.edgeNorms, replay_hists: replay.hists } : { replay: {}, replay_edge_norms: new DataView(new ArrayBuffer(0)), replay_hists: new DataView(new ArrayBuffer(0)) };
  return { ...base, graph: first.graph, edge_norms: first.edgeNorms, hists: first.hists, ...replayTraits };
}

function mount(values) {
  const model = fakeModel(values);
  const el = document.createElement("div");
  document.body.append(el);
  cleanups.push(mountWatch(el, model, engine));
  const q = (sel) => el.querySelector(sel);
  const view = (which) => q(`.gv-wt-graph-view[data-graph="${which}"]`);
  const draws = (which) => Number(view(which).querySelector(".gradviz-root")?.dataset.draws ?? 0);
  return { model, el, q, view, draws };
}

describe("the birth in the banner", () => {
  it("sits under the NaN/Inf line, as text, and opens the replayed graph on its marker", async () => {
    const { el, q, view, draws } = mount(traits());
    const line = q('.gv-wt-problem[data-kind="nonfinite"]');
    const birth = line.querySelector(".gv-wt-birth");
    expect(birth.querySelector(".gv-wt-birth-text").textContent).toBe(forensics().text);
    expect(birth.querySelector(".gv-wt-birth-text").title).toBe("/home/u/project/model.py:14");
    expect(line.querySelector(".gv-wt-problem-text").textContent).not.toContain("born"); // the problem's own sentence stays
    expect(el.querySelector("img")).toBeNull();
    birth.querySelector("button").click();
    expect(q(".gradviz-watch").dataset.tab).toBe("graph");
    expect(q(".gradviz-watch").dataset.graph).toBe("replay");
    await expect.poll(() => draws("replay")).toBeGreaterThan(0);
    expect(view("first").hidden).toBe(true);
    expect(view("replay").querySelector(".gv-title").textContent).toBe(forensics().title);
    expect(view("replay").querySelector(".gv-inspector").textContent).toContain("addmm");
    await expect.poll(() => view("replay").querySelector("svg.gv-svg g.node.gv-selected title")?.textContent).toBe("b0");
  });

  it("says why when there is no replay, and offers no graph for it", () => {
    const { el, q } = mount(traits({ replayed: false }));
    const birth = q('.gv-wt-problem[data-kind="nonfinite"] .gv-wt-birth');
    expect(birth.dataset.replayed).toBe("false");
    expect(birth.textContent).toContain("was not replayed");
    expect(birth.querySelector("button")).toBeNull();
    el.querySelectorAll(".gv-wt-tab")[1].click();
    expect(q(".gv-wt-graph-note").textContent).toBe(forensics(false).text);
    expect(q('.gv-wt-graph-choice[data-graph="replay"]').hidden).toBe(true);
    expect(q(".gradviz-watch").dataset.graph).toBe("first");
    expect(el.querySelector("img")).toBeNull();
  });

  it("is absent when the run has no forensics", () => {
    const { q } = mount(traits({ withForensics: false }));
    expect(q('.gv-wt-problem[data-kind="nonfinite"]')).not.toBeNull();
    expect(q(".gv-wt-birth")).toBeNull();
    expect(q(".gv-wt-graph-bar").hidden).toBe(true);
  });
});

describe("the Graph tab with a replay", () => {
  it("opens on the replayed step and switches to the first backward and back", async () => {
    const { el, q, view, draws } = mount(traits());
    el.querySelectorAll(".gv-wt-tab")[1].click();
    await expect.poll(() => draws("replay")).toBeGreaterThan(0);
    expect(draws("first")).toBe(0); // not drawn while hidden
    const choice = (which) => q(`.gv-wt-graph-choice[data-graph="${which}"]`);
    expect(choice("replay").textContent).toBe("Step 3, replayed");
    expect(choice("replay").getAttribute("aria-pressed")).toBe("true");
    // the replay keeps its step's verdicts (the trace view's legend says "NaN/Inf born"), its root is the model's output
    expect(view("replay").querySelector(".gv-legend").textContent).toContain("where a NaN/Inf was born");
    expect(view("replay").querySelector(".gv-legend").textContent).toContain("the model's output");
    choice("first").click();
    await expect.poll(() => draws("first")).toBeGreaterThan(0);
    expect(view("replay").hidden).toBe(true);
    expect(view("first").querySelector(".gv-title").textContent).toMatch(/utograd graph of the first backward pass$/);
    expect(q(".gradviz-watch").dataset.graph).toBe("first");
    choice("replay").click();
    expect(view("replay").hidden).toBe(false);
  });

  it("selects a parameter's row when its node in the replayed graph is clicked", async () => {
    const { el, model, view, draws } = mount(traits());
    el.querySelectorAll(".gv-wt-tab")[1].click();
    await expect.poll(() => draws("replay")).toBeGreaterThan(0);
    const param = birthModel().graph.nodes.find((n) => n.kind === "param");
    const g = [...view("replay").querySelectorAll("svg.gv-svg g.node")].find((n) => n.querySelector("title").textContent === param.id);
    g.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await settle();
    expect(model.values.selected).toBe(param.tensor.name);
  });

  it("arrives during a live run: the tab turns to it unless the user chose the first backward", async () => {
    const later = traits();
    const start = traits({ withForensics: false });
    const { el, model, q, draws } = mount(start);
    el.querySelectorAll(".gv-wt-tab")[1].click();
    await expect.poll(() => draws("first")).toBeGreaterThan(0);
    expect(q(".gv-wt-birth")).toBeNull();
    model.push({ timeline: later.timeline, replay: later.replay, replay_edge_norms: later.replay_edge_norms, replay_hists: later.replay_hists });
    await settle();
    expect(q(".gradviz-watch").dataset.graph).toBe("replay");
    await expect.poll(() => draws("replay")).toBeGreaterThan(0);
    expect(q(".gv-wt-birth-text").textContent).toBe(forensics().text);

    const again = mount(traits({ withForensics: false }));
    again.el.querySelectorAll(".gv-wt-tab")[1].click();
    again.q('.gv-wt-graph-choice[data-graph="first"]').click(); // chosen, though hidden: no replay yet
    again.model.push({ timeline: later.timeline, replay: later.replay, replay_edge_norms: later.replay_edge_norms, replay_hists: later.replay_hists });
    await settle();
    expect(again.q(".gradviz-watch").dataset.graph).toBe("first");
  });
});
