// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { createLayoutEngine } from "../src/layout/core.js";
import { LineChart, pathOf } from "../src/watch/chart.js";
import { SPECIAL, cellColor } from "../src/watch/colors.js";
import { mountWatch } from "../src/watch/app.js";
import { readWatch } from "../src/watch/data.js";
import { columnStates, columnValues } from "../src/watch/series.js";
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
  it("lists parameters grouped by module, full names as text", () => {
    const { el } = mount(watchTraits({ names: ["enc.weight", `${HOSTILE}.weight`, "enc.bias", "scale"] }));
    const labels = [...el.querySelectorAll(".gv-hm-label")].map((b) => [b.title, b.textContent]);
    expect(labels).toEqual([
      ["scale", "scale"], // the model's own parameters first, as named_parameters() lists them
      ["enc.weight", "enc.weight"],
      ["enc.bias", "enc.bias"],
      [`${HOSTILE}.weight`, `${HOSTILE}.weight`],
    ]);
    expect(el.querySelector(".gv-hm-label .gv-hm-prefix").textContent).toBe("enc."); // the module, muted
    expect(el.querySelector("img")).toBeNull();
  });

  it("folds modules that hold submodules into bands that open and close", () => {
    const names = ["tok.weight", ...[0, 1].flatMap((i) => [`blocks.${i}.attn.weight`, `blocks.${i}.attn.bias`, `blocks.${i}.mlp.weight`])];
    const timeline = { first_nonfinite: { step: 3, name: "blocks.1.attn.bias" } };
    const { el, q, label, model } = mount(watchTraits({ names, rows: 4, cells: { "3,5": [STATES.NONFINITE, NaN] }, timeline }));
    const band = (path) => el.querySelector(`.gv-hm-band[data-band="${path}"]`);
    const shown = () => [...el.querySelectorAll(".gv-hm-gutter > button")].map((b) => b.dataset.band ?? b.title);
    expect(shown()).toEqual(["tok.weight", "blocks", "blocks.0", ...names.slice(1, 4), "blocks.1", ...names.slice(4)]); // few rows: all open
    band("blocks.1").click();
    expect(band("blocks.1").getAttribute("aria-expanded")).toBe("false");
    expect(shown()).toEqual(["tok.weight", "blocks", "blocks.0", ...names.slice(1, 4), "blocks.1"]);
    expect(q(".gv-hm-canvas").dataset.lines).toBe("7");
    q(".gv-wt-banner button").click(); // the first NaN is in blocks.1.attn.bias: its band opens
    expect(model.values.selected).toBe("blocks.1.attn.bias");
    expect(label("blocks.1.attn.bias")).not.toBeNull();
  });

  it("plots the median and the parameters furthest from it before any click", () => {
    const cells = { "5,2": [STATES.ZERO, 0] };
    const { el } = mount(watchTraits({ names: ["a.w", "b.w", "c.w", "d.w", "e.w"], rows: 10, cells }));
    const chart = el.querySelectorAll(".gv-chart")[0];
    expect(chart.querySelector('.gv-chart-line[data-series="median"]').getAttribute("d")).toMatch(/^M[^M]*$/); // one unbroken line
    const plotted = [...chart.querySelectorAll(".gv-chart-line[data-column]")].map((p) => Number(p.dataset.column));
    expect(plotted).toHaveLength(3);
    expect(plotted).toContain(2); // the one with a zero gradient
    expect([...chart.querySelectorAll(".gv-chart-series")].map((t) => t.dataset.name)[0]).toBe("median of the gradient norms");
    expect(el.querySelector(".gv-wt-summary").textContent).toContain("Plotted: the median over the parameters (dashed) and the 3 parameters furthest from it");
  });

  it("selects a row on click, compares with Shift-click, and plots each", () => {
    const { model, label, el } = mount(watchTraits());
    label("enc.bias").click();
    expect(model.values.selected).toBe("enc.bias");
    expect(label("enc.bias").classList.contains("gv-selected")).toBe(true);
    const lines = () => [...el.querySelectorAll(".gv-chart")[0].querySelectorAll(".gv-chart-line[data-column]")].map((p) => Number(p.dataset.column));
    expect(lines()).toEqual([1]);
    label("head.weight").dispatchEvent(new MouseEvent("click", { shiftKey: true, bubbles: true }));
    expect(model.values.selected).toBe("head.weight");
    expect(lines().sort()).toEqual([1, 2]);
    expect(el.querySelector(".gv-wt-summary").textContent).toContain("head.weight: never exploding · never vanishing");
  });

  it("says what the selected step recorded, never 'all learn' over a NaN, a zero or a frozen parameter", () => {
    const cells = { "2,0": [STATES.NONFINITE, NaN], "3,1": [STATES.ZERO, 0], "0,2": [STATES.NONE, NaN], "1,2": [STATES.NONE, NaN], "2,2": [STATES.NONE, NaN], "3,2": [STATES.NONE, NaN] };
    const { q, model } = mount(watchTraits({ names: ["a.w", "b.w", "emb.w", "d.w"], rows: 4, cells, timeline: { frozen: [false, false, true, false] } }));
    const step = () => q(".gv-wt-step").textContent;
    expect(step()).toBe("step 3: 2 learn, 1 with zero gradients, 1 frozen");
    expect(q(".gv-wt-run").textContent).toBe(
      "over 4 recorded steps: 1 learns at every step; 1 with NaN/Inf gradients, first at step 2; 1 with zero gradients, first at step 3; 1 frozen",
    );
    model.set("step", 2);
    expect(step()).toBe("step 2: 2 learn, 1 with NaN/Inf gradients, 1 frozen");
    model.set("step", 0);
    expect(step()).toBe("step 0: 3 learn, 1 frozen");
    expect(q(".gradviz-watch").textContent).not.toMatch(/all \d* ?learn/);
  });

  it("marks the first NaN/Inf step in a banner and on the charts", () => {
    const traits = watchTraits({ rows: 6, cells: { "4,0": [STATES.NONFINITE, NaN] }, timeline: { first_nonfinite: { step: 4, name: "enc.weight" } } });
    const { q, label, model } = mount(traits);
    expect(q(".gv-wt-banner").hidden).toBe(false);
    expect(q('.gv-wt-problem[data-kind="nonfinite"]').textContent).toContain("enc.weight went NaN/Inf at step 4.");
    expect(label("enc.weight").classList.contains("gv-marked")).toBe(false);
    expect(q(".gv-first-nan").dataset.row).toBe("4");
    q(".gv-wt-banner button").click();
    expect([model.values.selected, model.values.step]).toEqual(["enc.weight", 4]);
    expect(label("enc.weight").classList.contains("gv-selected")).toBe(true);
    expect(label("enc.weight").classList.contains("gv-marked")).toBe(true);
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

  it("lets a plain wheel scroll the page; only Ctrl/Cmd + wheel zooms the steps", () => {
    const { q } = mount(watchTraits({ rows: 40 }));
    const canvas = q(".gv-hm-canvas");
    const wheel = (options) => {
      const event = new WheelEvent("wheel", { deltaY: -200, clientX: 10, bubbles: true, cancelable: true });
      for (const [key, value] of Object.entries(options)) Object.defineProperty(event, key, { value }); // happy-dom drops modifier keys
      canvas.dispatchEvent(event);
      return event.defaultPrevented;
    };
    expect(wheel({})).toBe(false); // not taken: the notebook scrolls
    expect([canvas.dataset.lo, canvas.dataset.hi]).toEqual(["0", "40"]);
    expect(wheel({ ctrlKey: true })).toBe(true);
    expect(Number(canvas.dataset.hi) - Number(canvas.dataset.lo)).toBeLessThan(40);
    expect(q(".gv-wt-toolbar .gv-button").hidden).toBe(false); // "Show all steps"
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

  async function mountGraph(cells) {
    const { graph, edgeNorms, hists } = smallModel();
    const params = graph.verdicts.filter((v) => v.node);
    const names = params.map((v) => v.name);
    const traits = { ...watchTraits({ names, rows: 4, cells }), graph, edge_norms: edgeNorms, hists };
    traits.timeline.nodes = params.map((v) => v.node);
    const mounted = mount(traits, engine);
    expect(mounted.el.querySelector(".gradviz-root")).toBeNull(); // drawn only once its tab is opened
    mounted.el.querySelectorAll(".gv-wt-tab")[1].click();
    await expect.poll(() => Number(mounted.el.querySelector(".gradviz-root")?.dataset.draws ?? 0)).toBeGreaterThan(0);
    return { ...mounted, params, names, graph };
  }

  it("fills parameter nodes by their norm at the selected step and shows a sparkline", async () => {
    const { model, el, params, names } = await mountGraph({ "3,0": [STATES.NONFINITE, NaN], "2,1": [STATES.ZERO, 0] });
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
    expect(el.querySelector(".gv-inspector .gv-watch-inspect").textContent).toContain("At step 2");
  });

  it("never shows the first pass's 'ok' as the state of a step: the inspector follows the history", async () => {
    const { model, el, names, graph } = await mountGraph({ "3,0": [STATES.NONFINITE, NaN], "2,0": [STATES.ZERO, 0] });
    expect(graph.verdicts.find((v) => v.name === names[0]).cause).not.toBe("ok"); // the fixture's cut: red
    expect(graph.title).toContain("learn"); // a trace's title: a verdict count of one pass
    expect(el.querySelector(".gradviz-root .gv-title").textContent).toMatch(/^(\w+: a|A)utograd graph of the first backward pass$/);
    const inspector = () => el.querySelector(".gv-inspector");
    const firstOk = graph.verdicts.find((v) => v.node && v.cause === "ok");
    const column = names.indexOf(firstOk.name);
    model.set("selected", firstOk.name);
    await settle();
    expect(inspector().querySelector(".gv-name").textContent).toBe(firstOk.name);
    expect(inspector().querySelector(".gv-verdict")).toBeNull(); // no one-pass verdict section for parameters
    expect(inspector().textContent).not.toContain("None: no gradient was stored");
    const badge = () => inspector().querySelector(".gv-wt-badge").textContent;
    expect(badge()).toBe("learns");
    // a NaN step of that parameter
    const cells = { [`1,${column}`]: [STATES.NONFINITE, NaN] };
    const traits = watchTraits({ names, rows: 4, cells });
    model.push({ grad_norm: traits.grad_norm, state: traits.state });
    await settle();
    model.set("step", 1);
    expect(badge()).toBe("NaN/Inf");
    // refreshed in place: a parameter the first pass found ok adds no section (was the text "null")
    expect(inspector().querySelector(".gv-watch-inspect").textContent).not.toContain("null");
    expect(inspector().querySelector(".gv-wt-verdict").dataset.health).toBe("nonfinite");
    expect(inspector().textContent).toContain("The gradient holds NaN or Inf at step 1");
    // a parameter the first pass found cut shows that cause too
    model.set("selected", names[0]);
    await settle();
    expect(inspector().querySelector(".gv-wt-first code").textContent).toBe(graph.verdicts.find((v) => v.name === names[0]).cause);
  });
});

describe("graph arriving during a live run", () => {
  it("mounts the graph panel when the first backward's graph is set", async () => {
    const { graph, edgeNorms, hists } = smallModel();
    const { model, el } = mount(watchTraits({ rows: 2 }), createLayoutEngine());
    el.querySelectorAll(".gv-wt-tab")[1].click();
    expect(el.querySelector(".gradviz-root")).toBeNull();
    model.push({ graph, edge_norms: edgeNorms, hists });
    await expect.poll(() => Number(el.querySelector(".gradviz-root")?.dataset.draws ?? 0)).toBeGreaterThan(0);
    expect(el.querySelector(".gv-graph-wait")).toBeNull();
    expect(el.querySelector(".gradviz-root .gv-legend").textContent).toContain("its gradient norm at the selected step");
  });
});

describe("line chart", () => {
  const series = (data, array, column, extra = {}) => ({
    kind: "param",
    column,
    label: data.names[column],
    color: ["#111111", "#222222"][column],
    primary: column === 0,
    values: columnValues(data, array, column),
    states: array === "grad" ? columnStates(data, column) : null,
    flags: [],
    ...extra,
  });

  it("draws one path per series; flags and state ticks sit on their own series", () => {
    const cells = { "6,0": [STATES.FINITE, 1e4], "7,0": [STATES.ZERO, 0], "8,0": [STATES.NONFINITE, NaN], "2,1": [STATES.FINITE, 1e-9], "3,1": [STATES.ZERO, 0] };
    const data = readWatch(fakeModel(watchTraits({ names: ["a", `${HOSTILE}`], rows: 10, cells })));
    const chart = new LineChart({ title: "Gradient norm", height: 150, measured: false, empty: "none" });
    document.body.append(chart.el);
    const lines = [
      series(data, "grad", 0, { flags: [{ row: 6, kind: "explode", value: 1e4, median: 0.5 }] }),
      series(data, "grad", 1, { flags: [{ row: 2, kind: "vanish", value: 1e-9, more: 0 }] }),
    ];
    chart.render({ data, series: lines, window: { lo: 0, hi: 10 }, cursor: 3, vanish: 1e-7 });
    const svg = chart.el.querySelector("svg");
    expect(svg.querySelectorAll(".gv-chart-line")).toHaveLength(2);
    expect(svg.querySelector(`.gv-chart-line[data-column="0"]`).getAttribute("d").match(/M/g)).toHaveLength(2); // broken at rows 7-9
    const explode = svg.querySelector(".gv-flag-explode");
    expect([explode.dataset.column, explode.getAttribute("fill"), explode.querySelector("title").textContent]).toEqual(["0", "#111111", "step 6 · a · exploding: 10000 is 20000× the running median 0.5"]);
    const vanish = svg.querySelector(".gv-flag-vanish");
    expect([vanish.dataset.column, vanish.getAttribute("fill")]).toEqual(["1", "#222222"]); // the compared series' own mark
    const ticks = [...svg.querySelectorAll(".gv-chart-state")].map((t) => [t.dataset.column, t.dataset.row, t.classList[1], t.getAttribute("y")]);
    expect(ticks.map((t) => t.slice(0, 3))).toEqual([
      ["1", "3", "gv-state-zero"],
      ["0", "7", "gv-state-zero"],
      ["0", "8", "gv-state-nonfinite"],
    ]);
    expect(new Set(ticks.map((t) => `${t[0]}:${t[3]}`)).size).toBe(2); // one lane per series
    expect(svg.querySelector(".gv-cursor").getAttribute("visibility")).toBe("visible");
    const legend = [...svg.querySelectorAll(".gv-chart-series")];
    expect(legend.map((t) => t.dataset.name)).toEqual(["a", HOSTILE]);
    expect(svg.querySelector("img")).toBeNull();
  });

  it("draws the update ratio only at measured steps: markers, no line across a gap", () => {
    const data = readWatch(fakeModel(watchTraits({ names: ["w"], rows: 10 }))); // measured on even rows
    const chart = new LineChart({ title: "Update ratio", height: 110, measured: true, empty: "not measured" });
    document.body.append(chart.el);
    chart.render({ data, series: [series(data, "ratio", 0)], window: { lo: 0, hi: 10 }, cursor: null });
    const svg = chart.el.querySelector("svg");
    expect(svg.querySelector(".gv-chart-line").getAttribute("d")).not.toContain("L");
    expect([...svg.querySelectorAll(".gv-chart-point")].map((c) => Number(c.dataset.row))).toEqual([0, 2, 4, 6, 8]);
  });
});

describe("chart paths", () => {
  it("keeps the lowest and highest point of each pixel column when rows outnumber pixels, gaps kept", () => {
    const v = [1, 5, 2, 3, NaN, 4, 6, 1];
    const has = (row) => row >= 0 && row < v.length && !Number.isNaN(v[row]);
    const points = v.map((_, row) => row).filter(has);
    const x = (row) => row / 2; // two rows per pixel
    const y = (row) => 10 - v[row];
    expect(pathOf(points, has, x, y, false)).toBe("M0.0,9.0L0.5,5.0L1.0,8.0L1.5,7.0M2.5,6.0L3.0,4.0L3.5,9.0");
    expect(pathOf(points, has, x, y, true)).toBe("M0.0,9.0L0.5,5.0L1.0,8.0L1.5,7.0M2.5,6.0L3.0,4.0L3.5,9.0"); // two rows per pixel: both kept
    const many = Array.from({ length: 100 }, (_, i) => 1 + (i % 7));
    const hasMany = (row) => row >= 0 && row < 100;
    const dense = pathOf([...many.keys()], hasMany, (row) => row / 10, (row) => 10 - many[row], true);
    expect(dense.match(/[ML]/g).length).toBeLessThanOrEqual(20); // 10 pixel columns, at most 2 points each
    expect(dense.startsWith("M")).toBe(true);
    expect(dense.slice(1)).not.toContain("M");
  });
});

describe("line chart without values", () => {
  it("says so instead of drawing an empty frame", () => {
    const data = readWatch(fakeModel(watchTraits({ names: ["w"], rows: 3 })));
    const chart = new LineChart({ title: "Update ratio", height: 110, measured: true, empty: "not measured in these steps" });
    chart.render({ data, series: [{ kind: "param", column: 0, label: "w", color: "#000000", primary: true, values: columnValues(data, "ratio", 0), states: null, flags: [] }], window: { lo: 1, hi: 2 }, cursor: null });
    expect(chart.el.textContent).toContain("not measured in these steps"); // row 1: not measured
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
