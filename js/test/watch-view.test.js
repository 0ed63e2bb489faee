// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { createLayoutEngine } from "../src/layout/core.js";
import { LineChart } from "../src/watch/chart.js";
import { SPECIAL, cellColor } from "../src/watch/colors.js";
import { mountWatch } from "../src/watch/app.js";
import { readWatch } from "../src/watch/data.js";
import { StepSlider } from "../src/watch/slider.js";
import { smallModel } from "./helpers.js";
import { STATES, fakeModel, settle, watchTraits } from "./watch-helpers.js";

const HOSTILE = "<img src=x onerror=alert(1)>";
const noLayout = { layout: () => Promise.reject(new Error("no graph expected")) };
let cleanups = [];
afterEach(() => {
  cleanups.forEach((fn) => fn());
  cleanups = [];
  document.body.replaceChildren();
});

function mount(traits, layout = noLayout) {
  const model = fakeModel(traits);
  const el = document.createElement("div");
  document.body.append(el);
  cleanups.push(mountWatch(el, model, layout));
  const q = (sel) => el.querySelector(sel);
  const label = (name) => el.querySelector(`.gv-hm-label[title="${name}"]`);
  return { model, el, q, label, updates: () => Number(q(".gradviz-watch").dataset.updates) };
}

describe("watch view", () => {
  it("lists parameters grouped by module, names as text", () => {
    const { el } = mount(watchTraits({ names: ["enc.weight", `${HOSTILE}.weight`, "enc.bias", "scale"] }));
    const modules = [...el.querySelectorAll(".gv-hm-module")].map((m) => [m.title, m.textContent]);
    expect(modules).toEqual([
      ["enc", "enc"],
      [HOSTILE, "…error=alert(1)>"],
      ["(top level)", "(top level)"],
    ]);
    const labels = [...el.querySelectorAll(".gv-hm-label")].map((b) => [b.title, b.textContent]);
    expect(labels).toEqual([
      ["enc.weight", "weight"],
      ["enc.bias", "bias"],
      [`${HOSTILE}.weight`, "weight"],
      ["scale", "scale"],
    ]);
    expect(el.querySelector("img")).toBeNull();
  });

  it("selects a row on click, compares with Shift-click, and plots each", () => {
    const { model, label, el } = mount(watchTraits());
    label("enc.bias").click();
    expect(model.values.selected).toBe("enc.bias");
    expect(label("enc.bias").classList.contains("gv-selected")).toBe(true);
    const lines = () => [...el.querySelectorAll(".gv-chart")[0].querySelectorAll(".gv-chart-line")].map((p) => Number(p.dataset.column));
    expect(lines()).toEqual([1]);
    label("head.weight").dispatchEvent(new MouseEvent("click", { shiftKey: true, bubbles: true }));
    expect(model.values.selected).toBe("head.weight");
    expect(lines().sort()).toEqual([1, 2]);
    expect(el.querySelector(".gv-wt-summary").textContent).toContain("head.weight: never exploding · never vanishing");
  });

  it("marks the first NaN/Inf step in a banner and on the charts", () => {
    const traits = watchTraits({ rows: 6, cells: { "4,0": [STATES.NONFINITE, NaN] }, timeline: { first_nonfinite: { step: 4, name: "enc.weight" } } });
    const { q, label, model } = mount(traits);
    expect(q(".gv-wt-banner").hidden).toBe(false);
    expect(q(".gv-wt-banner").textContent).toContain("First NaN/Inf gradient at step 4in enc.weight");
    expect(q(".gv-first-nan").dataset.row).toBe("4");
    q(".gv-wt-banner button").click();
    expect([model.values.selected, model.values.step]).toEqual(["enc.weight", 4]);
    expect(label("enc.weight").classList.contains("gv-selected")).toBe(true);
  });

  it("the slider's right end is the latest step", () => {
    const { model, q } = mount(watchTraits({ rows: 5, steps: [0, 10, 20, 30, 40] }));
    const input = q(".gv-slider");
    expect([input.max, input.value, q(".gv-slider-label").textContent]).toEqual(["4", "4", "step 40 (latest)"]);
    input.value = "2";
    input.dispatchEvent(new Event("input"));
    expect(model.values.step).toBe(2);
    expect(q(".gv-slider-label").textContent).toBe("step 20");
    input.value = "4";
    input.dispatchEvent(new Event("input"));
    expect(model.values.step).toBe(-1);
  });

  it("live updates repaint only new rows and keep selection and step", async () => {
    const { model, q, label, updates } = mount(watchTraits({ rows: 5 }));
    label("enc.bias").click();
    model.set("step", 2);
    model.push(watchTraits({ rows: 8 }));
    await settle();
    expect(updates()).toBe(2); // one redraw for the several traits of one update
    expect(q(".gv-hm-canvas").dataset.painted).toBe("5-8");
    expect([model.values.selected, model.values.step]).toEqual(["enc.bias", 2]);
    expect(label("enc.bias").classList.contains("gv-selected")).toBe(true);
    expect(q(".gv-slider-label").textContent).toBe("step 2");
  });

  it("'latest' follows new rows", async () => {
    const { model, q } = mount(watchTraits({ rows: 5 }));
    model.push(watchTraits({ rows: 9 }));
    await settle();
    expect(model.values.step).toBe(-1);
    expect(q(".gv-slider-label").textContent).toBe("step 8 (latest)");
  });

  it("keeps the chosen training step when the history is downsampled", async () => {
    const { model, q } = mount(watchTraits({ rows: 8 }));
    model.set("step", 6); // step 6
    model.push(watchTraits({ rows: 5, steps: [0, 2, 4, 6, 8], timeline: { stride: 2 } }));
    await settle();
    expect(q(".gv-hm-canvas").dataset.painted).toBe("0-5"); // rows moved: everything repainted
    expect(model.values.step).toBe(3); // the row that now holds step 6
    expect(q(".gv-slider-label").textContent).toBe("step 6");
  });

  it("follows `step` and `selected` set from Python", async () => {
    const { model, q, label } = mount(watchTraits({ rows: 5 }));
    model.push({ step: 1, selected: "head.weight" });
    await settle();
    expect(q(".gv-slider-label").textContent).toBe("step 1");
    expect(label("head.weight").classList.contains("gv-selected")).toBe(true);
  });

  it("says when nothing was recorded yet, and waits for the graph", () => {
    const { q } = mount(watchTraits({ rows: 0 }));
    expect(q(".gv-hm-empty").hidden).toBe(false);
    expect(q(".gv-hm-empty").textContent).toBe("No step recorded yet.");
    expect(q(".gv-graph-wait").textContent).toContain("after the first backward pass");
  });
});

describe("graph panel in the watch view", () => {
  const engine = createLayoutEngine();

  it("fills parameter nodes by their norm at the selected step and shows a sparkline", async () => {
    const { graph, edgeNorms, hists } = smallModel();
    const params = graph.verdicts.filter((v) => v.node);
    const names = params.map((v) => v.name);
    const cells = { "3,0": [STATES.NONFINITE, NaN], "2,1": [STATES.ZERO, 0] };
    const traits = { ...watchTraits({ names, rows: 4, cells }), graph, edge_norms: edgeNorms, hists };
    traits.timeline.nodes = params.map((v) => v.node);
    const { model, el } = mount(traits, engine);
    await expect.poll(() => Number(el.querySelector(".gradviz-root")?.dataset.draws ?? 0)).toBeGreaterThan(0);
    const fill = (id) => [...el.querySelectorAll("svg.gv-svg g.node")].find((g) => g.querySelector("title").textContent === id).querySelector("polygon, path").getAttribute("fill");
    expect(fill(params[0].node)).toBe(SPECIAL.nonfinite); // latest row: NaN
    model.set("step", 2);
    expect(fill(params[1].node)).toBe(SPECIAL.zero);
    const data = readWatch(model);
    const range = { min: -1, max: 1 };
    expect(fill(params[0].node)).toBe(cellColor(2, data.grad[2 * names.length], range));
    el.querySelector(".gv-hm-label").click(); // selects the first row's parameter
    // the graph node of that parameter is selected too, and its inspector has the sparkline
    expect(el.querySelector(".gv-inspector .gv-name").textContent).toBe(names[0]);
    expect(el.querySelector(".gv-inspector .gv-spark")).not.toBeNull();
    expect(el.querySelector(".gv-inspector .gv-watch-inspect").textContent).toContain("at step 2");
  });
});

describe("graph arriving during a live run", () => {
  it("mounts the graph panel when the first backward's graph is set", async () => {
    const { graph, edgeNorms, hists } = smallModel();
    const { model, el } = mount(watchTraits({ rows: 2 }), createLayoutEngine());
    expect(el.querySelector(".gradviz-root")).toBeNull();
    model.push({ graph, edge_norms: edgeNorms, hists });
    await expect.poll(() => Number(el.querySelector(".gradviz-root")?.dataset.draws ?? 0)).toBeGreaterThan(0);
    expect(el.querySelector(".gv-graph-wait")).toBeNull();
    expect(el.querySelector(".gradviz-root .gv-legend").textContent).toContain("its gradient norm at the selected step");
  });
});

describe("line chart", () => {
  it("draws one path per series, flags with their reason, zero and NaN ticks", () => {
    const cells = { "6,0": [STATES.FINITE, 1e4], "7,0": [STATES.ZERO, 0], "8,0": [STATES.NONFINITE, NaN], "2,1": [STATES.FINITE, 1e-9] };
    const data = readWatch(fakeModel(watchTraits({ names: ["a", `${HOSTILE}`], rows: 10, cells })));
    const chart = new LineChart({ title: "Gradient norm", array: "grad", gaps: true, marks: true });
    document.body.append(chart.el);
    const flags = [[{ row: 6, kind: "explode", value: 1e4, median: 0.5 }], [{ row: 2, kind: "vanish", value: 1e-9 }]];
    const series = [0, 1].map((column) => ({ column, color: "#000000", primary: column === 0, flags: flags[column] }));
    chart.render({ data, series, window: { lo: 0, hi: 10 }, cursor: 3, vanish: 1e-7 });
    const svg = chart.el.querySelector("svg");
    expect(svg.querySelectorAll(".gv-chart-line")).toHaveLength(2);
    expect(svg.querySelector(`.gv-chart-line[data-column="0"]`).getAttribute("d").match(/M/g)).toHaveLength(2); // broken at rows 7-9
    expect(svg.querySelector(".gv-flag-explode title").textContent).toBe("step 6 · a · exploding: 10000 is 20000× the running median 0.5");
    expect(svg.querySelector(".gv-flag-vanish")).not.toBeNull();
    expect(svg.querySelectorAll(".gv-state-zero")).toHaveLength(1);
    expect(svg.querySelectorAll(".gv-state-nonfinite")).toHaveLength(1);
    expect(svg.querySelector(".gv-cursor").getAttribute("visibility")).toBe("visible");
    const legend = [...svg.querySelectorAll(".gv-chart-series")];
    expect(legend.map((t) => t.dataset.name)).toEqual(["a", HOSTILE]);
    expect(legend[1].textContent).toBe("<img src=x onerror=alert(…");
    expect(svg.querySelector("img")).toBeNull();
  });
});

describe("line chart without values", () => {
  it("says so instead of drawing an empty frame", () => {
    const data = readWatch(fakeModel(watchTraits({ names: ["w"], rows: 3 })));
    const chart = new LineChart({ title: "Update ratio", array: "ratio", gaps: false, marks: false });
    chart.render({ data, series: [{ column: 0, color: "#000000", primary: true, flags: [] }], window: { lo: 1, hi: 2 }, cursor: null, vanish: 1e-7 });
    expect(chart.el.textContent).toContain("no value in these steps"); // row 1: not measured
  });
});

describe("step slider", () => {
  it("is disabled with no rows", () => {
    const slider = new StepSlider(() => {});
    slider.update(0, -1, null);
    expect(slider.input.disabled).toBe(true);
    expect(slider.label.textContent).toBe("no step yet");
  });
});
