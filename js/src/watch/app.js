// The watch view (Python side: gradviz/view/_watch_widget.py MonitorWidget; contract:
// js/STATE.md "Watch widget state"): heatmap, step slider, line charts and the graph of the
// first backward, all on one step axis. Python grows the arrays while training runs; each
// update repaints only the new rows and keeps the user's selection, zoom and step.
import { formatCount, formatNumber } from "../format.js";
import { append, h } from "../ui/dom.js";
import { LineChart } from "./chart.js";
import { cellColor, SERIES } from "./colors.js";
import { appendsTo, at, extendRange, nearestRow, niceRange, readWatch, rowAtOrAfter } from "./data.js";
import { flagsOf } from "./flags.js";
import { watchGraph } from "./graph-panel.js";
import { Heatmap, gradText } from "./heatmap.js";
import { graphLegend, watchLegend } from "./legend.js";
import { sparkline } from "./sparkline.js";
import { StepSlider } from "./slider.js";

const DATA_TRAITS = ["timeline", "steps", "grad_norm", "param_norm", "update_ratio", "state"];
const MAX_COMPARED = SERIES.length;

/**
 * @param {HTMLElement} el
 * @param {{get: Function, set: Function, on: Function, off: Function, save_changes: Function}} model
 * @param {{layout: (dot: string) => Promise<string>}} layout
 * @returns {() => void} cleanup
 */
export function mountWatch(el, model, layout) {
  // Browser-only state, never synced (only `step` and `selected` go back to Python):
  let data = readWatch({ get: () => undefined }); // decoded arrays
  let seen = null; // log10 range of every finite norm so far (grows as rows arrive)
  let range = null; // the colour scale: `seen` widened to whole decades
  let chosen = { latest: true, step: null }; // the selected step by its training step number,
  // so it survives downsampling (rows thinned out) while the `step` trait is a row index
  let knownStep = -1; // the `step` trait value last acted on
  let compared = []; // names plotted in the charts; the first is the `selected` parameter
  let zoom = null; // {from, to, follow} in training steps; follow: keep showing the newest rows
  let flags = new Map(); // column -> vanish/explode flags, for the compared columns
  let reloadQueued = false;

  const title = h("div", { class: "gv-title" });
  const banner = h("div", { class: "gv-wt-banner", role: "alert", hidden: true });
  const legendBox = h("div");
  const resetZoom = h("button", { type: "button", class: "gv-button", hidden: true, onclick: () => setZoom(null) }, "Show all steps");
  const heatmap = new Heatmap({ select, zoom: setZoom });
  const slider = new StepSlider(setStep);
  const gradChart = new LineChart({ title: "Gradient norm", array: "grad", gaps: true, marks: true });
  const ratioChart = new LineChart({ title: "Update ratio ‖Δw‖/‖w‖", array: "ratio", gaps: false, marks: false });
  const summary = h("div", { class: "gv-wt-summary", "aria-live": "polite" });
  const graphHost = h("div", { class: "gv-wt-graph" });
  const hint = "Click a row to plot it, Shift-click to compare. Drag across steps to zoom, double-click to see all; Ctrl+wheel zooms.";
  const root = h(
    "div",
    { class: "gradviz-watch", "data-updates": "0" },
    h("div", { class: "gv-top" }, title, legendBox),
    banner,
    h("div", { class: "gv-wt-toolbar" }, h("span", { class: "gv-muted" }, hint), resetZoom),
    heatmap.el,
    slider.el,
    gradChart.el,
    ratioChart.el,
    summary,
    graphHost,
  );
  el.append(root);
  const graph = watchGraph(graphHost, model, layout, {
    colors: nodeColors,
    selectNode: (id) => {
      const column = data.nodes.indexOf(id);
      if (column >= 0 && data.names[column] !== compared[0]) select(column, false, false);
    },
    inspect: inspectorSection,
    legend: graphLegend,
  });

  /** Read the arrays again; repaint only new rows when the update just appended some. */
  function reload() {
    reloadQueued = false;
    const next = readWatch(model);
    const appended = appendsTo(data, next);
    const grown = extendRange(appended ? seen : null, next, appended ? data.rows : 0);
    const nextRange = niceRange(grown);
    const sameScale = nextRange?.min === range?.min && nextRange?.max === range?.max;
    const follow = zoom?.follow && data.rows > 0;
    const span = zoom ? zoom.to - zoom.from : 0;
    data = next;
    seen = grown;
    range = nextRange;
    heatmap.setData(data, range, appended && sameScale);
    if (follow && data.rows) zoom = { from: data.steps[data.rows - 1] - span, to: data.steps[data.rows - 1], follow: true };
    syncStep();
    const selected = model.get("selected") ?? "";
    compared = compared.filter((name) => data.names.includes(name));
    if (selected && data.names.includes(selected) && compared[0] !== selected) compared = [selected, ...compared.filter((n) => n !== selected)];
    flags = new Map();
    legendBox.replaceChildren(watchLegend(range, thresholds()));
    root.dataset.updates = String(Number(root.dataset.updates) + 1);
    renderAll();
  }

  /** Keep the chosen step: Python may have set `step`, or rows may have moved under it. */
  function syncStep() {
    const step = model.get("step") ?? -1;
    if (step !== knownStep) return adoptStep(step);
    if (chosen.latest || chosen.step === null) return;
    const row = nearestRow(data, chosen.step);
    if (row !== null && row !== step) {
      knownStep = row;
      model.set("step", row);
      model.save_changes();
    }
  }

  function adoptStep(step) {
    knownStep = step;
    const row = step < 0 ? null : Math.min(step, data.rows - 1);
    chosen = step < 0 || row === null || row < 0 ? { latest: true, step: null } : { latest: false, step: data.steps[row] };
  }

  /** The row the graph shows, or null when nothing was recorded. */
  function currentRow() {
    if (!data.rows) return null;
    const step = model.get("step") ?? -1;
    return step < 0 ? data.rows - 1 : Math.min(step, data.rows - 1);
  }

  function rowWindow() {
    const rows = Math.max(1, data.rows);
    if (!zoom || !data.rows) return { lo: 0, hi: rows };
    const lo = rowAtOrAfter(data, zoom.from) ?? rows - 1;
    const hi = rowAtOrAfter(data, zoom.to + 1) ?? rows;
    return hi > lo ? { lo, hi } : { lo: Math.max(0, hi - 1), hi: Math.max(1, hi) };
  }

  function renderAll() {
    renderHeader();
    const window = rowWindow();
    const cursor = currentRow();
    const columns = compared.map((name) => data.names.indexOf(name)).filter((c) => c >= 0);
    heatmap.render({ window, cursor, selected: columns[0] ?? null, compared: new Set(columns) });
    const series = columns.map((column, i) => ({ column, color: SERIES[i % SERIES.length], primary: i === 0, flags: flagsFor(column) }));
    const vanish = thresholds().vanish;
    gradChart.render({ data, series, window, cursor, vanish });
    ratioChart.render({ data, series, window, cursor, vanish });
    slider.update(data.rows, model.get("step") ?? -1, cursor === null ? null : data.steps[cursor]);
    resetZoom.hidden = !zoom;
    renderSummary(columns[0]);
    graph.recolor();
    graph.refreshInspector();
  }

  /** A step change only moves cursors and recolours: no chart or label is rebuilt. */
  function renderStep() {
    const cursor = currentRow();
    heatmap.render({ ...heatmap.view, cursor });
    gradChart.setCursor(cursor);
    ratioChart.setCursor(cursor);
    slider.update(data.rows, model.get("step") ?? -1, cursor === null ? null : data.steps[cursor]);
    graph.recolor();
    graph.refreshInspector();
  }

  function renderHeader() {
    const t = data.timeline;
    const sampling = [t.every > 1 && `a row every ${t.every} steps`, t.stride > 1 && `downsampled ×${t.stride}`].filter(Boolean);
    title.replaceChildren();
    append(title, [
      `Gradient health · ${formatCount(data.params)} parameter${data.params === 1 ? "" : "s"} · ${formatCount(data.rows)} step${data.rows === 1 ? "" : "s"} recorded`,
      sampling.length ? h("span", { class: "gv-muted" }, ` (${sampling.join(", ")})`) : null,
      t.live ? h("span", { class: "gv-live" }, "● recording") : null,
    ]);
    const first = data.firstNonfinite;
    banner.hidden = !first;
    if (!first) return;
    banner.replaceChildren();
    append(banner, [
      h("strong", {}, `First NaN/Inf gradient at step ${first.step}`),
      h("span", {}, `in ${first.name}`),
      first.column >= 0 && h("button", { type: "button", class: "gv-button", onclick: () => showFirstNonfinite(first) }, "Show it"),
    ]);
  }

  function renderSummary(column) {
    if (column === undefined) return summary.replaceChildren();
    const list = flagsFor(column);
    const count = (kind) => list.filter((f) => f.kind === kind);
    const describe = (kind, word) => {
      const hits = count(kind);
      return hits.length ? `${word} at ${formatCount(hits.length)} step${hits.length === 1 ? "" : "s"} (first: step ${data.steps[hits[0].row]})` : `never ${word}`;
    };
    summary.replaceChildren(h("strong", {}, data.names[column]), `: ${describe("explode", "exploding")} · ${describe("vanish", "vanishing")}`);
  }

  function flagsFor(column) {
    if (!flags.has(column)) flags.set(column, flagsOf(data, column, thresholds()));
    return flags.get(column);
  }

  function thresholds() {
    return { vanish: Number(data.timeline.vanish ?? 1e-7), explode: Number(data.timeline.explode ?? 10) };
  }

  /** Click on a row (or a graph node): select its parameter; `additive` adds it to the comparison. */
  function select(column, additive, reveal = true) {
    const name = data.names[column];
    if (name === undefined) return;
    if (!additive) compared = [name];
    else if (compared.includes(name)) compared = compared.filter((n) => n !== name);
    else compared = [name, ...compared].slice(0, MAX_COMPARED);
    const primary = compared[0] ?? "";
    if (model.get("selected") !== primary) {
      model.set("selected", primary);
      model.save_changes();
    }
    if (reveal && primary === name && data.nodes[column]) graph.reveal(data.nodes[column]);
    renderAll();
  }

  function setStep(step) {
    adoptStep(step);
    model.set("step", step);
    model.save_changes();
  }

  function setZoom(window) {
    zoom = window && data.rows ? { from: data.steps[window.lo], to: data.steps[window.hi - 1], follow: window.hi >= data.rows } : null;
    renderAll();
  }

  function showFirstNonfinite(first) {
    select(first.column, false);
    setStep(first.row);
  }

  /** Fill of each graph parameter node at the selected step. */
  function nodeColors() {
    const colors = new Map();
    const row = currentRow();
    if (row === null) return colors;
    data.nodes.forEach((id, column) => {
      if (id) colors.set(id, cellColor(at(data, "state", row, column), at(data, "grad", row, column), range));
    });
    return colors;
  }

  /** The watch section of a graph node's inspector: sparkline and values at the selected step. */
  function inspectorSection(node) {
    const column = data.nodes.indexOf(node.id);
    if (column < 0 || !data.rows) return null;
    const row = currentRow();
    const value = (label, text) => h("tr", {}, h("th", {}, label), h("td", {}, text));
    const ratio = at(data, "ratio", row, column);
    return [
      h("h4", {}, "Gradient norm over steps"),
      sparkline(data, column, row),
      h(
        "table",
        { class: "gv-table" },
        value(`at step ${data.steps[row]}`, gradText(at(data, "state", row, column), at(data, "grad", row, column))),
        value("update ratio", Number.isNaN(ratio) ? "– (not measured)" : formatNumber(ratio)),
      ),
    ];
  }

  const queueReload = () => {
    if (reloadQueued) return;
    reloadQueued = true;
    queueMicrotask(reload);
  };
  const onStep = () => {
    if (reloadQueued) return; // the reload reads `step` itself
    const step = model.get("step") ?? -1;
    if (step !== knownStep) adoptStep(step);
    renderStep();
  };
  const onSelected = () => {
    const name = model.get("selected") ?? "";
    if (name === (compared[0] ?? "")) return;
    const column = data.names.indexOf(name);
    if (column >= 0) return select(column, false);
    compared = [];
    renderAll();
  };
  for (const key of DATA_TRAITS) model.on(`change:${key}`, queueReload);
  model.on("change:step", onStep);
  model.on("change:selected", onSelected);
  reload();

  return () => {
    for (const key of DATA_TRAITS) model.off(`change:${key}`, queueReload);
    model.off("change:step", onStep);
    model.off("change:selected", onSelected);
    heatmap.destroy();
    gradChart.destroy();
    ratioChart.destroy();
    graph.destroy();
    root.remove();
  };
}
