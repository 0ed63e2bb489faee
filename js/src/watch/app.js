// The watch view (Python side: gradviz/view/_watch_widget.py MonitorWidget; contract:
// js/STATE.md "Watch widget state"): a title that says what the selected step and the whole run
// recorded, a step slider, then two tabs: the heatmap with its charts, and the graph of the first
// backward. Everything that says "learns" comes from the recorded history (health.js), never from
// the graph's one-pass verdicts. Python grows the arrays while training runs; each update repaints
// only the new rows and keeps the user's selection, zoom, open bands, tab and step.
import { formatCount, formatNumber } from "../format.js";
import { append, h } from "../ui/dom.js";
import { LineChart } from "./chart.js";
import { HEALTH_COLORS, PROBLEM_COLORS, SERIES, cellColor } from "./colors.js";
import { appendsTo, at, extendRange, nearestRow, niceRange, readWatch, rowAtOrAfter } from "./data.js";
import { ExplosionTracker, drawnFlags, flagsOf } from "./flags.js";
import { watchGraph } from "./graph-panel.js";
import { HEALTH, HEALTH_LABEL, countsText, runText, stepCounts, worstOverRun } from "./health.js";
import { headroomAt, headroomProblem, limitOf, peakValues } from "./headroom.js";
import { Heatmap } from "./heatmap.js";
import { graphLegend, replayLegend, watchLegend } from "./legend.js";
import { columnStates, columnValues, medianValues, worstColumns } from "./series.js";
import { StepSlider } from "./slider.js";
import { problems } from "./problems.js";
import { ratioNote } from "./ratio-note.js";
import { stepSection } from "./step-section.js";

const DATA_TRAITS = ["timeline", "steps", "grad_norm", "param_norm", "update_ratio", "state", "headroom"];
const MAX_COMPARED = SERIES.length;
const MEDIAN_COLOR = "#78909c"; // overridden by the theme (watch.css, .gv-chart-line[data-series])

/** @typedef {"steps"|"graph"} Tab   the heatmap and charts, or the graph */
/** @type {readonly Tab[]} */
const TABS = ["steps", "graph"];

/** @typedef {import("./data.js").LogRange} LogRange */
/** @typedef {{columns: number[], chosen: boolean}} Plotted   the columns plotted; chosen: by the user */

/**
 * @param {HTMLElement} el
 * @param {import("../types.js").ModelLike<import("../types.js").WatchTraits>} model
 * @param {import("../ui/app.js").Layout} layout
 * @returns {() => void} cleanup
 */
export function mountWatch(el, model, layout) {
  // Browser-only state, never synced (only `step` and `selected` go back to Python):
  let data = readWatch({ get: () => undefined }); // decoded arrays
  /** @type {LogRange|null} log10 range of every finite norm so far (grows as rows arrive) */
  let seen = null;
  /** @type {LogRange|null} the colour scale: `seen` widened to whole decades */
  let range = null;
  /**
   * @type {{latest: boolean, step: number|null}} the selected step by its training step number, so it
   *   survives downsampling (rows thinned out) while the `step` trait is a row index
   */
  let chosen = { latest: true, step: null };
  let knownStep = -1; // the `step` trait value last acted on
  /** @type {string[]} names plotted in the charts; the first is the `selected` parameter */
  let compared = [];
  /** @type {{from: number, to: number, follow: boolean}|null} in training steps; follow: keep showing the newest rows */
  let zoom = null;
  /** @type {Map<number, import("./flags.js").Flag[]>} column -> vanish/explode flags, for the plotted columns */
  let flags = new Map();
  /**
   * @type {{worst: ReturnType<typeof worstOverRun>, gradMedian: Float32Array, ratioMedian: Float32Array, worstColumns: number[], problems: import("./problems.js").Problem[]}|null}
   *   per-update summaries: worst health per column, medians, worst columns, the banner's lines
   */
  let derived = null;
  /** @type {{kind: import("./problems.js").ProblemKind, columns: Set<number>}|null} the rows a banner's "Show it" marked */
  let marked = null;
  /** @type {Tab} */
  let tab = "steps";
  let reloadQueued = false;
  const booms = new ExplosionTracker(); // the banner's exploding onsets, kept up to date as rows arrive

  const title = h("div", { class: "gv-title" });
  const stepLine = h("div", { class: "gv-wt-step", "aria-live": "polite" });
  const runLine = h("div", { class: "gv-wt-run" });
  const stoppedLine = h("div", { class: "gv-wt-stopped", role: "alert", hidden: true });
  const banner = h("div", { class: "gv-wt-banner", role: "status", "aria-label": "Problems in this run", hidden: true });
  const legendBox = h("div");
  const resetZoom = h("button", { type: "button", class: "gv-button", hidden: true, onclick: () => setZoom(null) }, "Show all steps");
  const tabs = {
    steps: h("button", { type: "button", role: "tab", class: "gv-wt-tab", onclick: () => showTab("steps") }, "Heatmap & charts"),
    graph: h("button", { type: "button", role: "tab", class: "gv-wt-tab", onclick: () => showTab("graph") }, "Graph"),
  };
  const heatmap = new Heatmap({ select, zoom: setZoom });
  const slider = new StepSlider(setStep);
  const gradChart = new LineChart({ title: "Gradient norm", height: 140, measured: false, empty: "no finite gradient in these steps" });
  const ratioChart = new LineChart({ title: "Update ratio ‖Δw‖/‖w‖", height: 100, measured: true, empty: "not measured in these steps" });
  const headroomChart = new LineChart({ title: "Gradient peak", height: 110, measured: false, empty: "no headroom kept in these steps" });
  const headroomText = h("p", { class: "gv-wt-headroom-text" });
  const headroomBox = h("div", { class: "gv-wt-headroom", hidden: true }, headroomChart.el, headroomText);
  const ratioText = h("span", {});
  const ratioEmpty = h("div", { class: "gv-wt-ratio-note", hidden: true }, h("strong", {}, "Update ratio ‖Δw‖/‖w‖"), ratioText);
  const summary = h("div", { class: "gv-wt-summary", "aria-live": "polite" });
  const graphHost = h("div", { class: "gv-wt-graph" });
  const hint = "Click a row to plot it, Shift-click to compare, click a module band to open it. Drag across steps to zoom, double-click to see all; Ctrl+wheel zooms.";
  const panels = {
    steps: h("div", { class: "gv-wt-panel", role: "tabpanel" }, h("div", { class: "gv-wt-hint gv-muted" }, hint), heatmap.el, gradChart.el, headroomBox, ratioChart.el, ratioEmpty, summary),
    graph: h("div", { class: "gv-wt-panel", role: "tabpanel", hidden: true }, graphHost),
  };
  const root = h(
    "div",
    { class: "gradviz-watch", "data-updates": "0", "data-tab": tab },
    h("div", { class: "gv-top" }, title, stepLine, runLine, stoppedLine, legendBox),
    banner,
    h("div", { class: "gv-wt-toolbar" }, h("div", { class: "gv-wt-tabs", role: "tablist" }, tabs.steps, tabs.graph), resetZoom),
    slider.el,
    panels.steps,
    panels.graph,
  );
  el.append(root);
  const graph = watchGraph(graphHost, model, layout, {
    colors: nodeColors,
    selectNode: (id) => {
      const column = data.nodes.indexOf(id);
      if (column >= 0 && data.names[column] !== compared[0]) select(column, false, false);
    },
    selectName: (name) => {
      const column = data.names.indexOf(name);
      if (column >= 0 && name !== compared[0]) select(column, false, false);
    },
    inspect: inspectorSection,
    legend: (graph) => graphLegend(graph, lossRoot("first") !== null),
    replayLegend: (graph, hasNorms) => replayLegend(graph, hasNorms, lossRoot("replay") !== null),
    forensics: () => {
      const timeline = model.get("timeline");
      return (timeline && "forensics" in timeline && timeline.forensics) || null;
    },
  });

  /**
   * The root node of a graph when it is the loss the model computes (`timeline.loss_root`, decided in
   * Python from the graph); null when it is the model's output.
   * @param {import("./graph-panel.js").Which} which
   * @returns {string|null}
   */
  function lossRoot(which) {
    const timeline = model.get("timeline");
    const id = timeline && "loss_root" in timeline ? timeline.loss_root?.[which] : null;
    return typeof id === "string" ? id : null;
  }

  /** Read the arrays again; repaint only new rows when the update just appended some. */
  function reload() {
    reloadQueued = false;
    const next = readWatch(model);
    const appended = appendsTo(data, next);
    const grown = extendRange(appended ? seen : null, next, appended ? data.rows : 0);
    const follow = zoom?.follow && data.rows > 0;
    const span = zoom ? zoom.to - zoom.from : 0;
    const kept = appended ? data.rows : 0;
    data = next;
    seen = grown;
    range = niceRange(grown);
    heatmap.setData(data, range, kept);
    if (follow && data.rows) zoom = { from: data.steps[data.rows - 1] - span, to: data.steps[data.rows - 1], follow: true };
    syncStep();
    const selected = model.get("selected") ?? "";
    compared = compared.filter((name) => data.names.includes(name));
    if (selected && data.names.includes(selected) && compared[0] !== selected) compared = [selected, ...compared.filter((n) => n !== selected)];
    flags = new Map();
    const gradMedian = medianValues(data, "grad");
    derived = {
      worst: worstOverRun(data),
      gradMedian,
      ratioMedian: medianValues(data, "ratio"),
      worstColumns: worstColumns(data, gradMedian),
      problems: problems(data, thresholds(), booms.update(data, thresholds().explode, kept)),
    };
    const overflow = headroomProblem(data); // Python's line (timeline.headroom), after the problems found here
    if (overflow) derived.problems.push(overflow);
    if (marked) {
      const still = derived.problems.find((p) => p.kind === marked?.kind);
      marked = still ? { kind: still.kind, columns: new Set(still.columns) } : null;
    }
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

  /** @param {number} step  the `step` trait: a row, or -1 for the latest */
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

  /** @returns {Plotted} */
  function plottedColumns() {
    const columns = compared.map((name) => data.names.indexOf(name)).filter((c) => c >= 0);
    return columns.length ? { columns, chosen: true } : { columns: derived?.worstColumns ?? [], chosen: false };
  }

  /**
   * The series of a chart: the median over all parameters, then the plotted parameters.
   * @param {"grad"|"ratio"} array
   * @param {Plotted} plotted
   * @returns {import("./series.js").Series[]}
   */
  function chartSeries(array, { columns, chosen: picked }) {
    const median = (array === "grad" ? derived?.gradMedian : derived?.ratioMedian) ?? new Float32Array(data.rows).fill(NaN); // reload() computes them
    const what = array === "grad" ? "gradient norms" : "update ratios";
    /** @type {import("./series.js").Series[]} */
    const series = [{ kind: "median", column: null, label: `median of the ${what}`, key: "median (dashed)", color: MEDIAN_COLOR, primary: false, values: median, states: null, flags: [] }];
    columns.forEach((column, i) =>
      series.push({
        kind: "param",
        column,
        label: data.names[column],
        color: SERIES[i % SERIES.length],
        primary: picked && i === 0,
        values: columnValues(data, array, column),
        states: array === "grad" ? columnStates(data, column) : null,
        flags: array === "grad" ? drawnFlags(flagsFor(column)) : [],
      }),
    );
    return series;
  }

  function renderAll() {
    renderHeader();
    const window = rowWindow();
    const cursor = currentRow();
    const plotted = plottedColumns();
    const columns = plotted.chosen ? plotted.columns : [];
    heatmap.render({ window, cursor, selected: columns[0] ?? null, compared: new Set(columns), marked: markedView() });
    const right = heatmap.rightInset() + 10;
    const gutter = heatmap.gutterPx;
    root.style.setProperty("--gv-gutter", `${gutter}px`);
    slider.setGutter(gutter);
    gradChart.render({ data, series: chartSeries("grad", plotted), window, cursor, vanish: thresholds().vanish, right, gutter });
    renderHeadroom(plotted, { window, cursor, right, gutter });
    const note = ratioNote(data, derived?.ratioMedian ?? new Float32Array(data.rows).fill(NaN));
    ratioChart.el.hidden = note !== null;
    ratioEmpty.hidden = note === null;
    ratioText.textContent = note ?? "";
    if (note === null) ratioChart.render({ data, series: chartSeries("ratio", plotted), window, cursor, right, gutter });
    slider.update(data.rows, model.get("step") ?? -1, cursor === null ? null : data.steps[cursor]);
    resetZoom.hidden = !zoom;
    renderSummary(plotted);
    graph.recolor();
    graph.refreshInspector();
  }

  /** A step change moves cursors, recolours the graph and rewrites the step's counts: no chart is rebuilt. */
  function renderStep() {
    const cursor = currentRow();
    heatmap.render({ ...heatmap.view, cursor });
    gradChart.setCursor(cursor);
    headroomChart.setCursor(cursor);
    ratioChart.setCursor(cursor);
    slider.update(data.rows, model.get("step") ?? -1, cursor === null ? null : data.steps[cursor]);
    renderStepLine();
    graph.recolor();
    graph.refreshInspector();
  }

  function renderHeader() {
    const t = data.timeline;
    const every = t.every ?? 1;
    const stride = t.stride ?? 1;
    const sampling = [every > 1 && `a row every ${every} steps`, stride > 1 && `downsampled ×${stride}`].filter(Boolean);
    title.replaceChildren();
    append(title, [
      `Gradient health · ${formatCount(data.params)} parameter${data.params === 1 ? "" : "s"} · ${formatCount(data.rows)} step${data.rows === 1 ? "" : "s"} recorded`,
      sampling.length ? h("span", { class: "gv-muted" }, ` (${sampling.join(", ")})`) : null,
      t.live ? h("span", { class: "gv-live" }, "● recording") : null,
    ]);
    renderStepLine();
    runLine.textContent = data.rows ? runText(data, derived?.worst) : "";
    stoppedLine.replaceChildren(...(t.stopped ? [h("strong", {}, "⚠ "), t.stopped] : []));
    stoppedLine.hidden = !t.stopped;
    renderBanner();
  }

  /**
   * The selected parameter's precision headroom (timeline.headroom): for a half-precision gradient,
   * or one flagged as heading for overflow, its peak over the steps against its dtype's limit (the
   * compared parameters of the same dtype too), and Python's sentence about it (underflow included).
   * @param {Plotted} plotted
   * @param {{window: import("./cells.js").RowWindow, cursor: number|null, right: number, gutter: number}} frame
   */
  function renderHeadroom({ columns, chosen: picked }, frame) {
    const column = picked ? columns[0] : undefined;
    const shown = column === undefined ? null : headroomAt(data, column);
    const param = shown?.param ?? null;
    const watched = param !== null && (param.exact || param.flagged_at !== null);
    headroomBox.hidden = !(watched || shown?.note);
    if (headroomBox.hidden || column === undefined || !shown) return;
    headroomBox.dataset.column = String(column);
    headroomBox.dataset.charted = String(shown.charted);
    headroomChart.el.hidden = !shown.charted;
    if (!param) {
      headroomText.textContent = shown.note;
      return;
    }
    const kept = shown.charted ? "" : " Its headroom over the steps was not kept (a run folder keeps it for the 16 parameters closest to overflow).";
    headroomText.textContent = `${param.text}${kept}`;
    if (!shown.charted) return;
    const limit = limitOf(param);
    headroomChart.options.title = param.exact ? `Gradient peak (${param.dtype})` : `Gradient norm (bounds the peak, ${param.dtype})`;
    /** @type {import("./series.js").Series[]} */
    const series = [];
    for (const c of columns) {
      const other = headroomAt(data, c);
      if (!other.charted || !other.param || other.param.dtype !== param.dtype) continue;
      const i = series.length;
      series.push({ kind: "param", column: c, label: data.names[c], color: SERIES[columns.indexOf(c) % SERIES.length], primary: i === 0, values: peakValues(data, c, limit), states: null, flags: [] });
    }
    headroomChart.render({ data, series, ...frame, reference: { value: limit, label: `${param.dtype} limit ${Number.isInteger(limit) && limit < 1e6 ? String(limit) : formatNumber(limit)}` } });
  }

  /** One line per kind of problem: what happened, to whom, when; "Show it" marks those rows. */
  function renderBanner() {
    const lines = derived?.problems ?? [];
    banner.hidden = !lines.length;
    banner.replaceChildren(
      ...lines.map((problem) =>
        h(
          "div",
          { class: "gv-wt-problem", "data-kind": problem.kind, style: `--gv-accent: ${PROBLEM_COLORS[problem.kind]}` },
          h("strong", {}, problem.kind === "headroom" ? `⚠ ${problem.title}` : problem.title),
          h("span", { class: "gv-wt-problem-text" }, problem.text),
          h("button", { type: "button", class: "gv-button", "aria-pressed": String(marked?.kind === problem.kind), onclick: () => showProblem(problem) }, "Show it"),
          problem.kind === "nonfinite" && birthLine(),
        ),
      ),
    );
  }

  /**
   * Where the first NaN/Inf was born, from its replay (watch(..., forensics=True)): the op, forward
   * or backward, the line; or that it came from the loss; or why it is not known. Python writes the
   * sentence (gradviz/view/_watch_forensics.py); "Show in graph" opens the replayed graph on the birth.
   */
  function birthLine() {
    const forensics = data.timeline.forensics;
    if (!forensics) return null;
    const birth = forensics.births[0];
    return h(
      "div",
      { class: "gv-wt-birth", "data-replayed": String(forensics.replayed) },
      h("span", { class: "gv-wt-birth-mark", "aria-hidden": "true" }, "☢"),
      h("span", { class: "gv-wt-birth-text", title: birth?.where ?? "" }, forensics.text),
      forensics.replayed && h("button", { type: "button", class: "gv-button", onclick: () => showReplay(birth?.node ?? null) }, "Show in graph"),
    );
  }

  /** @param {string|null} node  the birth marker to select in the replayed graph */
  function showReplay(node) {
    showTab("graph");
    graph.showReplay(node);
  }

  /** "step 59: 1 learns, 4 with zero gradients", each count in its health colour. */
  function renderStepLine() {
    const row = currentRow();
    stepLine.replaceChildren();
    if (row === null) return;
    const counts = stepCounts(data, row);
    stepLine.dataset.step = String(data.steps[row]);
    const dots = HEALTH.filter((kind) => counts[kind]).map((kind) => h("span", { class: "gv-wt-dot", style: `--gv-swatch: ${HEALTH_COLORS[kind]}`, title: HEALTH_LABEL[kind] }));
    append(stepLine, [h("span", { class: "gv-wt-dots", "aria-hidden": "true" }, dots), `step ${data.steps[row]}: ${countsText(counts, data.vanish)}`]);
  }

  /** @param {Plotted} plotted */
  function renderSummary({ columns, chosen: picked }) {
    summary.replaceChildren();
    if (!data.rows) return;
    if (!picked) {
      const names = columns.map((c) => data.names[c]);
      append(summary, [
        "Plotted: the median over the parameters (dashed) and the ",
        names.length === 1 ? "parameter" : `${names.length} parameters`,
        " furthest from it",
        names.length ? `: ${names.join(", ")}` : "",
        ". Click a heatmap row to plot it instead.",
      ]);
      return;
    }
    const column = columns[0];
    const list = flagsFor(column);
    /** @param {import("./flags.js").Flag["kind"]} kind */
    const count = (kind) => list.filter((f) => f.kind === kind);
    /**
     * @param {import("./flags.js").Flag["kind"]} kind
     * @param {string} word
     */
    const describe = (kind, word) => {
      const hits = count(kind);
      return hits.length ? `${word} at ${formatCount(hits.length)} step${hits.length === 1 ? "" : "s"} (first: step ${data.steps[hits[0].row]})` : `never ${word}`;
    };
    append(summary, [
      h("strong", {}, data.names[column]),
      `: ${describe("explode", "exploding")} · ${describe("vanish", "vanishing")}`,
      data.nodes[column] && h("button", { type: "button", class: "gv-link gv-wt-show-graph", onclick: () => showInGraph(column) }, "Show in graph"),
    ]);
  }

  /** @param {number} column */
  function flagsFor(column) {
    let list = flags.get(column);
    if (!list) flags.set(column, (list = flagsOf(data, column, thresholds())));
    return list;
  }

  function thresholds() {
    return { vanish: data.vanish, explode: Number(data.timeline.explode ?? 10) };
  }

  /**
   * Click on a row (or a graph node): select its parameter; `additive` adds it to the comparison.
   * @param {number} column
   * @param {boolean} additive
   */
  function select(column, additive, reveal = true, keepMarks = false) {
    const name = data.names[column];
    if (name === undefined) return;
    if (!keepMarks && marked) {
      marked = null;
      renderBanner();
    }
    if (!additive) compared = [name];
    else if (compared.includes(name)) compared = compared.filter((n) => n !== name);
    else compared = [name, ...compared].slice(0, MAX_COMPARED);
    const primary = compared[0] ?? "";
    if (model.get("selected") !== primary) {
      model.set("selected", primary);
      model.save_changes();
    }
    const node = data.nodes[column];
    if (primary === name) heatmap.reveal(column);
    if (reveal && primary === name) graph.reveal(node, name);
    renderAll();
  }

  /** @param {number} column */
  function showInGraph(column) {
    showTab("graph");
    graph.reveal(data.nodes[column], data.names[column]);
  }

  /** @param {Tab} next */
  function showTab(next) {
    const changed = next !== tab;
    tab = next;
    root.dataset.tab = tab;
    for (const name of TABS) {
      tabs[name].setAttribute("aria-selected", String(name === tab));
      panels[name].hidden = name !== tab;
    }
    if (tab === "graph") {
      graph.show();
      graph.recolor();
    } else if (changed) {
      renderAll(); // back from a hidden panel: the heatmap and charts fit the width again
    }
  }

  /** @param {number} step  a row, or -1 for the latest */
  function setStep(step) {
    adoptStep(step);
    model.set("step", step);
    model.save_changes();
  }

  /** @param {import("./cells.js").RowWindow|null} window */
  function setZoom(window) {
    zoom = window && data.rows ? { from: data.steps[window.lo], to: data.steps[window.hi - 1], follow: window.hi >= data.rows } : null;
    renderAll();
  }

  /**
   * A banner's "Show it": mark its rows in the heatmap, scroll to the first one (plotted in the
   * charts) and move the step to where it first happened.
   * @param {import("./problems.js").Problem} problem
   */
  function showProblem(problem) {
    showTab("steps");
    marked = { kind: problem.kind, columns: new Set(problem.columns) };
    renderBanner();
    setStep(problem.row);
    select(problem.columns[0], false, true, true);
  }

  /** The marked rows as the heatmap draws them, in the colour of their kind. */
  function markedView() {
    return marked ? { columns: marked.columns, color: PROBLEM_COLORS[marked.kind] } : null;
  }

  /** Fill of each graph parameter node at the selected step. */
  function nodeColors() {
    /** @type {Map<string, string>} */
    const colors = new Map();
    const row = currentRow();
    if (row === null) return colors;
    data.nodes.forEach((id, column) => {
      if (id) colors.set(id, cellColor(at(data, "state", row, column), at(data, "grad", row, column), range));
    });
    return colors;
  }

  /**
   * The watch section of a graph node's inspector: what the selected step recorded for it (the
   * replayed graph's nodes have their own verdicts, of the step replayed).
   * @param {import("../types.js").GraphNode} node
   * @param {import("./graph-panel.js").Which} which  the graph it is in
   */
  function inspectorSection(node, which) {
    if (which === "replay") return node.kind === "loss" ? [h("p", { class: "gv-wt-output" }, replayOutputText(node, data.timeline.forensics?.step, node.id === lossRoot("replay"), lossRoot("replay") !== null))] : null;
    if (node.kind === "loss") return [h("p", { class: "gv-wt-output" }, outputText(node, node.id === lossRoot("first")))];
    const column = data.nodes.indexOf(node.id);
    if (column < 0) return null;
    const verdict = model.get("graph")?.verdicts?.[node.firstVerdict ?? -1] ?? null;
    const section = stepSection(data, currentRow(), column, verdict);
    const room = headroomAt(data, column).param;
    if (room && (room.exact || room.flagged_at !== null)) section.push(h("h4", {}, "Precision headroom"), h("p", { class: "gv-wt-headroom-text" }, room.text));
    return section;
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
  showTab(tab);
  reload();

  return () => {
    for (const key of DATA_TRAITS) model.off(`change:${key}`, queueReload);
    model.off("change:step", onStep);
    model.off("change:selected", onSelected);
    heatmap.destroy();
    gradChart.destroy();
    headroomChart.destroy();
    ratioChart.destroy();
    graph.destroy();
    root.remove();
  };
}

/**
 * What the root of the watch graph is: the model's output, not the loss (the trace's root); or the loss,
 * when the model computes it in its forward.
 * @param {import("../types.js").GraphNode} node
 * @param {boolean} loss  this root is the loss
 */
function outputText(node, loss) {
  if (loss) return `The loss, computed in the model's forward (made by ${node.label}): gradviz.watch draws the autograd graph of the first backward from what the model's forward returned, and this model returns its loss.`;
  return `The model's output: gradviz.watch draws the autograd graph of the first backward from what the model's forward returned (made by ${node.label}). The loss is computed from it outside the model, so it is not drawn.`;
}

/**
 * The root of the replayed graph: the model's output at the replayed step (or the loss the model computed).
 * @param {import("../types.js").GraphNode} node
 * @param {number|undefined} step
 * @param {boolean} loss  this root is the loss
 * @param {boolean} lossInside  another root of the replay is the loss the model computed (this is an output beside it)
 */
export function replayOutputText(node, step, loss, lossInside = false) {
  if (loss) return `The loss at step ${step ?? "?"}, computed in the model's forward (made by ${node.label}): the replay ran the model's forward again and backpropagated the gradients that arrived at its outputs in training.`;
  const ran = `the replay ran the model's forward again and backpropagated the gradients that arrived at this output in training.`;
  if (lossInside) return `Another output of the model at step ${step ?? "?"}, made by ${node.label} (the model also returns its loss, drawn as the other root): ${ran}`;
  return `The model's output at step ${step ?? "?"}, made by ${node.label}: ${ran} The loss is computed outside the model, so it is not drawn.`;
}
