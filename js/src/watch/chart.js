// A line chart over steps on a log scale, sharing the heatmap's x axis (same gutter, same row
// window). Each series (series.js) carries its own marks: the vanish/explode flags sit on its own
// line in its own colour, and the states a log scale cannot show (zero, NaN/Inf, no gradient) are
// ticks in its own lane under the plot. `measured` charts (the update ratio) draw a value only at
// the rows where it was measured: a marker per row, a line only between adjacent measured rows.
import { formatCount, formatNumber } from "../format.js";
import { clip } from "../escape.js";
import { h, s } from "../ui/dom.js";
import { GUTTER, rowAtX, tickRows, xOfRow } from "./cells.js";
import { CHAR_PX, clipStart } from "./gutter.js";
import { SPECIAL } from "./colors.js";
import { STATE } from "./data.js";
import { Tooltip } from "./tooltip.js";

const PAD = { top: 14, right: 10, bottom: 18 }; // the bottom band holds the step labels
const LANE = 4; // px per series lane of state ticks, under the plot
const MARK_PX = 6; // flags of one series closer than this (px) would overlap: the first one is drawn
const LEGEND_LINES = 6;
const MAX_TICKS = 5; // decade labels on the y axis, at most
const INSET = 8; // left margin of the title and legend, as the heatmap's labels
const TICKS = 44; // px at the right of the gutter for the y tick labels ("1e-12"), which share rows with the key
/** @type {Partial<Record<number, "none"|"zero"|"nonfinite">>} the states without a norm, by state */
const STATE_KIND = { [STATE.none]: "none", [STATE.zero]: "zero", [STATE.nonfinite]: "nonfinite" };
/** @type {Record<import("./flags.js").Flag["kind"], string>} */
export const FLAG_COLORS = { explode: "#d32f2f", vanish: "#0277bd" };

/** @typedef {import("./series.js").Series} Series */
/** @typedef {import("./cells.js").RowWindow} RowWindow */
/** @typedef {{min: number, max: number}} Domain   log10 extent of the y axis */
/** @typedef {{x: number, y: number, w: number, h: number}} Plot   the plot area, px */

/**
 * What a chart draws.
 * @typedef {object} ChartInput
 * @property {import("./data.js").WatchData} data
 * @property {Series[]} series
 * @property {RowWindow} window
 * @property {number|null} cursor
 * @property {number} [vanish]  draw this threshold
 * @property {{value: number, label: string}} [reference]  a line always in view (the headroom chart's dtype limit)
 * @property {number} [right]   px right of the plot (to line up with the heatmap)
 * @property {number} [gutter]  px left of the plot: the heatmap's label column (default GUTTER)
 */

/**
 * Where the series of one drawing go: its input, the plot area and the scales.
 * @typedef {object} Frame
 * @property {ChartInput} input
 * @property {Plot} plot
 * @property {(row: number) => number} x
 * @property {(v: number) => number} y
 */

export class LineChart {
  /**
   * @param {{title: string, height: number, measured: boolean, empty: string}} options
   *   measured: values exist only at some rows (no line across a row without one)
   */
  constructor(options) {
    this.options = options;
    this.svg = s("svg", { class: "gv-chart-svg", height: options.height, role: "img", "aria-label": options.title });
    this.el = h("div", { class: "gv-chart" }, this.svg);
    this.tooltip = new Tooltip(this.el);
    /** @type {ChartInput|null} */
    this.input = null;
    /** @type {Plot|null} */
    this.plot = null;
    /** @type {SVGLineElement|null} the step cursor */
    this.cursor = null;
    /** @type {SVGLineElement|null} the step under the pointer */
    this.hoverLine = null;
    this.svg.addEventListener("pointermove", (e) => this.#onMove(e));
    this.svg.addEventListener("pointerleave", () => this.#onLeave());
    this.resize = typeof ResizeObserver === "function" ? new ResizeObserver(() => this.input && this.render(this.input)) : null;
    this.resize?.observe(this.el);
  }

  /** @param {ChartInput} input */
  render(input) {
    this.input = input;
    const { data, series, window } = input;
    const height = this.options.height;
    const lanes = series.filter((line) => line.states).length;
    const gutter = input.gutter ?? GUTTER;
    const width = Math.max(gutter + 100, this.el.clientWidth || 800);
    const bottom = PAD.bottom + lanes * LANE;
    const plot = { x: gutter, y: PAD.top, w: width - gutter - (input.right ?? PAD.right), h: height - PAD.top - bottom };
    this.plot = plot;
    const reference = input.reference && input.reference.value > 0 && Number.isFinite(input.reference.value) ? input.reference : null;
    const domain = logDomain(series, window, reference?.value);
    /** @param {number} v */
    const y = (v) => plot.y + plot.h - ((Math.log10(v) - domain.min) / (domain.max - domain.min)) * plot.h;
    /** @param {number} row */
    const x = (row) => plot.x + xOfRow(row, plot.w, window);
    this.svg.setAttribute("width", String(width));
    this.svg.setAttribute("viewBox", `0 0 ${width} ${height}`);

    /** @type {SVGElement[]} */
    const parts = [s("rect", { class: "gv-chart-frame", x: plot.x, y: plot.y, width: plot.w, height: plot.h })];
    for (const tick of yTicks(domain)) {
      const yk = y(tick.value);
      parts.push(s("line", { class: "gv-chart-grid", x1: plot.x, x2: plot.x + plot.w, y1: yk, y2: yk }));
      parts.push(text(plot.x - 6, yk + 4, tick.label, "gv-chart-tick", "end"));
    }
    for (const row of tickRows(data.steps, window)) {
      parts.push(text(x(row), height - 4, String(data.steps[row]), "gv-chart-tick", "middle"));
    }
    if (input.vanish && input.vanish >= 10 ** domain.min && input.vanish <= 10 ** domain.max) {
      const yv = y(input.vanish);
      parts.push(s("line", { class: "gv-chart-vanish", x1: plot.x, x2: plot.x + plot.w, y1: yv, y2: yv }));
    }
    if (reference) {
      const yr = y(reference.value);
      parts.push(s("line", { class: "gv-chart-limit", x1: plot.x, x2: plot.x + plot.w, y1: yr, y2: yr }));
      parts.push(text(plot.x + plot.w - 4, yr - 3, reference.label, "gv-chart-limit-label", "end"));
    }
    const ordered = [...series].sort((a, b) => Number(a.primary) - Number(b.primary)); // primary on top
    const frame = { input, plot, x, y };
    let lane = 0;
    let drawn = 0;
    for (const line of ordered) {
      const out = this.#series(frame, line, line.states ? lane++ : -1);
      drawn += out.points;
      parts.push(...out.parts);
    }
    if (series.length && !drawn) parts.push(text(plot.x + plot.w / 2, plot.y + plot.h / 2, this.options.empty, "gv-chart-tick", "middle"));
    const first = data.firstNonfinite;
    if (first && first.row >= window.lo && first.row < window.hi) {
      const xf = x(first.row);
      parts.push(s("line", { class: "gv-first-nan", x1: xf, x2: xf, y1: plot.y - 4, y2: plot.y + plot.h, "data-row": first.row }));
      const label = `first NaN/Inf · step ${first.step} · ${firstWho(data, first)}`;
      const left = xf > plot.x + plot.w / 2; // near the right edge: the label reads leftwards from the line
      parts.push(text(left ? xf - 3 : xf + 3, plot.y - 4, label, "gv-first-nan-label", left ? "end" : "start"));
    }
    const cursor = s("line", { class: "gv-cursor", y1: plot.y, y2: plot.y + plot.h });
    const hoverLine = s("line", { class: "gv-chart-hover", y1: plot.y, y2: plot.y + plot.h, visibility: "hidden" });
    this.cursor = cursor;
    this.hoverLine = hoverLine;
    parts.push(cursor, hoverLine, ...this.#gutter(series, gutter));
    this.svg.replaceChildren(...parts);
    this.setCursor(input.cursor);
  }

  /**
   * Move the step cursor without redrawing the lines (the slider calls this on every input).
   * @param {number|null} row
   */
  setCursor(row) {
    if (!this.input || !this.cursor || !this.plot) return;
    const { window } = this.input;
    const shown = row !== null && row >= window.lo && row < window.hi;
    const xc = String(shown ? this.plot.x + xOfRow(row, this.plot.w, window) : -10);
    this.cursor.setAttribute("x1", xc);
    this.cursor.setAttribute("x2", xc);
    this.cursor.setAttribute("visibility", shown ? "visible" : "hidden");
  }

  destroy() {
    this.resize?.disconnect();
  }

  /**
   * One series: its path, markers, flags and state ticks.
   * @param {Frame} frame
   * @param {Series} line
   * @param {number} lane   its lane of state ticks (-1: none)
   * @returns {{parts: SVGElement[], points: number}}
   */
  #series(frame, line, lane) {
    const { input, plot, x, y } = frame;
    const { window } = input;
    const { measured } = this.options;
    const v = line.values;
    /** @param {number} row */
    const has = (row) => row >= window.lo && row < window.hi && v[row] > 0 && Number.isFinite(v[row]);
    /** @type {Record<string, string|number>} */
    const tag = line.column === null ? { "data-series": line.kind } : { "data-column": line.column };
    /** @type {SVGElement[]} */
    const parts = [];
    /** @type {number[]} */
    const points = [];
    for (let row = window.lo; row < window.hi; row++) if (has(row)) points.push(row);
    const d = pathOf(points, has, x, (row) => y(v[row]), window.hi - window.lo > plot.w);
    const width = line.primary ? 2 : 1.25;
    /** @type {Record<string, string>} */
    const dash = line.kind === "median" ? { "stroke-dasharray": "5 3" } : {};
    parts.push(s("path", { class: "gv-chart-line", d, stroke: line.color, "stroke-width": width, ...dash, ...tag }));
    // A marker where a point stands alone (no line reaches it: a ratio measured between unmeasured
    // rows), and on every point when they are few enough to tell apart.
    const few = points.length < plot.w / 12;
    for (const row of points) {
      if (!few && (has(row - 1) || has(row + 1))) continue;
      parts.push(s("circle", { class: "gv-chart-point", cx: x(row), cy: y(v[row]), r: line.primary ? 2.5 : 2, fill: line.color, "data-row": row, ...tag }));
    }
    if (measured) {
      // a measured value of exactly 0 (the weights did not change) has no place on a log scale
      for (let row = window.lo; row < window.hi; row++) {
        if (v[row] !== 0) continue;
        parts.push(s("circle", { class: "gv-chart-zero", cx: x(row), cy: plot.y + plot.h - 3, r: 2.5, stroke: line.color, fill: "none", "data-row": row, ...tag }));
      }
    }
    const taken = new Set(); // one flag of a kind per few pixels: more would only overlap
    for (const flag of line.flags) {
      if (flag.row < window.lo || flag.row >= window.hi || !has(flag.row)) continue;
      const bucket = `${flag.kind}${Math.round(x(flag.row) / MARK_PX)}`;
      if (taken.has(bucket)) continue;
      taken.add(bucket);
      parts.push(flagMark({ ...flag, step: input.data.steps[flag.row] }, x(flag.row), y(v[flag.row]), line));
    }
    if (line.states && lane >= 0) parts.push(...stateTicks(frame, line, line.states, lane));
    return { parts, points: points.length };
  }

  /**
   * Title, then one legend line per series (names as SVG text nodes), clipped left of the y ticks.
   * @param {Series[]} series
   * @param {number} gutter  px
   */
  #gutter(series, gutter) {
    const chars = Math.max(8, Math.floor((gutter - INSET - 14 - TICKS) / CHAR_PX));
    /** @type {SVGElement[]} */
    const out = [text(INSET, 12, this.options.title, "gv-chart-title")];
    series.slice(0, LEGEND_LINES).forEach((line, i) => {
      const yl = 30 + i * 15;
      out.push(s("rect", { x: INSET, y: yl - 8, width: 10, height: 3, fill: line.color }));
      const label = text(INSET + 14, yl - 3, line.kind === "median" ? clip(line.key ?? line.label, chars) : clipStart(line.key ?? line.label, chars), line.primary ? "gv-chart-series gv-primary" : "gv-chart-series");
      label.setAttribute("data-name", line.label); // the whole name (setAttribute: not markup)
      out.push(label);
    });
    if (series.length > LEGEND_LINES) out.push(text(INSET + 14, 30 + LEGEND_LINES * 15 - 3, `+${series.length - LEGEND_LINES} more`, "gv-chart-series"));
    return out;
  }

  /** @param {PointerEvent} e */
  #onMove(e) {
    const { input, plot, hoverLine } = this;
    if (!input?.data.rows || !plot || !hoverLine) return;
    const box = this.svg.getBoundingClientRect();
    const px = e.clientX - box.left - plot.x;
    if (px < 0 || px > plot.w) return this.#onLeave();
    const row = rowAtX(px, plot.w, input.window);
    const xr = String(plot.x + xOfRow(row, plot.w, input.window));
    hoverLine.setAttribute("x1", xr);
    hoverLine.setAttribute("x2", xr);
    hoverLine.setAttribute("visibility", "visible");
    const { data, series } = input;
    const missing = this.options.measured ? "not measured" : "–";
    /** @type {import("./tooltip.js").TipLine[]} */
    const lines = series.map((line) => [line.label, Number.isNaN(line.values[row]) ? missing : formatNumber(line.values[row])]);
    this.tooltip.show(e.clientX, e.clientY, [`step ${data.steps[row]}`, ...lines]);
  }

  #onLeave() {
    this.hoverLine?.setAttribute("visibility", "hidden");
    this.tooltip.hide();
  }
}

/**
 * Who went NaN/Inf at the first such row: one parameter's name, or how many went at once (the
 * first name alone would read as the one that started it).
 * @param {import("./data.js").WatchData} data
 * @param {import("./data.js").FirstNonfinite} first
 */
function firstWho(data, first) {
  let n = 0;
  for (let c = 0, i = first.row * data.params; c < data.params; c++, i++) if (data.state[i] === STATE.nonfinite) n++;
  return n > 1 ? `${formatCount(n)} parameters at once` : clip(first.name, 40);
}

/**
 * Ticks in a series' own lane under the plot where its gradient was zero, NaN/Inf or missing.
 * @param {Frame} frame
 * @param {Series} line
 * @param {Uint8Array} states   its `states`
 * @param {number} lane
 * @returns {SVGElement[]}
 */
function stateTicks({ input, plot, x }, line, states, lane) {
  const { window, data } = input;
  const y0 = plot.y + plot.h + 1 + lane * LANE;
  /** @type {SVGElement[]} */
  const out = [];
  const taken = new Set(); // one tick of a kind per pixel
  for (let row = window.lo; row < window.hi; row++) {
    const kind = STATE_KIND[states[row]];
    if (!kind || (kind === "none" && line.column !== null && data.frozen[line.column])) continue;
    const bucket = `${kind}${Math.round(x(row))}`;
    if (taken.has(bucket)) continue;
    taken.add(bucket);
    out.push(s("rect", { class: `gv-chart-state gv-state-${kind}`, x: x(row) - 1, y: y0, width: 2, height: LANE - 1, fill: SPECIAL[kind], stroke: line.color, "stroke-width": 0.5, "data-column": String(line.column), "data-row": row }));
  }
  return out;
}

/**
 * The SVG path through `points` (rows), broken where a row between two points has no value. With
 * more rows than pixels (`dense`), each pixel column keeps only its lowest and highest point, in row
 * order: the same drawing from far fewer points.
 * @param {number[]} points   rows with a value, in order
 * @param {(row: number) => boolean} has
 * @param {(row: number) => number} x
 * @param {(row: number) => number} y
 * @param {boolean} dense
 */
export function pathOf(points, has, x, y, dense) {
  let d = "";
  /** @type {{px: number, rows: [number, number], pen: string}|null} the pixel column being filled: its lowest and highest row */
  let bucket = null;
  const flush = () => {
    if (!bucket) return;
    const [a, b] = bucket.rows;
    let pen = bucket.pen;
    for (const row of a === b ? [a] : [Math.min(a, b), Math.max(a, b)]) {
      d += `${pen}${x(row).toFixed(1)},${y(row).toFixed(1)}`;
      pen = "L";
    }
    bucket = null;
  };
  for (const row of points) {
    const joined = has(row - 1);
    if (!dense) {
      d += `${joined ? "L" : "M"}${x(row).toFixed(1)},${y(row).toFixed(1)}`;
      continue;
    }
    const px = Math.floor(x(row));
    if (bucket && bucket.px === px && joined) {
      const [lo, hi] = bucket.rows;
      if (y(row) > y(lo)) bucket.rows[0] = row; // y grows downwards: the lowest value
      if (y(row) < y(hi)) bucket.rows[1] = row;
      continue;
    }
    flush();
    bucket = { px, rows: [row, row], pen: joined ? "L" : "M" };
  }
  flush();
  return d;
}

/**
 * log10 extent of the positive finite values of `series` in the window, padded, at least one decade;
 * with `include`, that value too (a reference line).
 * @param {{values: Float32Array}[]} series
 * @param {RowWindow} window
 * @param {number} [include]
 * @returns {Domain}
 */
export function logDomain(series, { lo, hi }, include) {
  let min = include ? Math.log10(include) : Infinity;
  let max = include ? Math.log10(include) : -Infinity;
  for (const { values } of series) {
    for (let row = lo; row < hi; row++) {
      const v = values[row];
      if (!(v > 0) || !Number.isFinite(v)) continue;
      const l = Math.log10(v);
      if (l < min) min = l;
      if (l > max) max = l;
    }
  }
  if (min > max) return { min: -3, max: 0 };
  const mid = (min + max) / 2;
  const half = Math.max(0.5, (max - min) / 2 + Math.max(0.1, (max - min) * 0.05));
  return { min: mid - half, max: mid + half };
}

/**
 * Ticks of a log10 domain: powers of ten (every few when many), with 2x and 5x when few.
 * @param {Domain} domain
 * @returns {{value: number, label: string}[]}
 */
export function yTicks(domain) {
  const every = Math.max(1, Math.ceil((domain.max - domain.min) / MAX_TICKS));
  /** @param {number} k */
  const pow = (k) => Number(`1e${k}`); // exact, unlike 10 ** k
  /** @param {number} v */
  const inside = (v) => Math.log10(v) >= domain.min && Math.log10(v) <= domain.max;
  const ticks = [];
  for (let k = Math.floor(domain.max); k >= domain.min; k -= every) ticks.push({ value: pow(k), label: decade(k) });
  if (ticks.length >= 2) return ticks;
  for (let k = Math.floor(domain.min); k <= domain.max; k++) {
    for (const v of [2 * pow(k), 5 * pow(k)]) if (inside(v)) ticks.push({ value: v, label: formatNumber(v) });
  }
  return ticks;
}

/**
 * "0.01", "1", "1000", "1e-5": a power of ten as a tick label.
 * @param {number} k
 */
export const decade = (k) => (k >= -2 && k <= 3 ? String(Number((10 ** k).toFixed(Math.max(0, -k)))) : `1e${k}`);

/**
 * A flag on its own series' point: ▲ above it (exploding), ▼ below it (vanishing), in the series' colour.
 * @param {import("./flags.js").Flag & {more?: number, step: number}} flag
 * @param {number} x
 * @param {number} y
 * @param {Series} line
 */
function flagMark(flag, x, y, line) {
  const up = flag.kind === "explode";
  const d = up ? `M${x - 4},${y - 4}L${x + 4},${y - 4}L${x},${y - 11}Z` : `M${x - 4},${y + 4}L${x + 4},${y + 4}L${x},${y + 11}Z`;
  const why = up
    ? `exploding: ${formatNumber(flag.value)} is ${formatNumber(flag.value / flag.median)}× the running median ${formatNumber(flag.median)}`
    : `vanishing: ${formatNumber(flag.value)} < the threshold${flag.more ? `, and on the ${flag.more} recorded steps after it` : ""}`;
  const title = s("title");
  title.textContent = `step ${flag.step} · ${line.label} · ${why}`;
  const mark = s("path", { class: `gv-flag gv-flag-${flag.kind}`, d, fill: line.color, stroke: FLAG_COLORS[flag.kind], "stroke-width": 1.5, "data-row": flag.row, "data-column": String(line.column) });
  mark.append(title);
  return mark;
}

/**
 * @param {number} x
 * @param {number} y
 * @param {string} content
 * @param {string} cls
 */
function text(x, y, content, cls, anchor = "start") {
  const el = s("text", { x, y, class: cls, "text-anchor": anchor });
  el.textContent = content;
  return el;
}
