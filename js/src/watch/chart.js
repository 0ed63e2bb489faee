// A line chart of one [rows, params] array over steps for the compared parameters, on a log
// scale, sharing the heatmap's x axis (same gutter, same row window). The gradient-norm chart
// also carries the vanish/explode flags and the states a log scale cannot show (zero, NaN).
import { formatNumber } from "../format.js";
import { clip } from "../escape.js";
import { h, s } from "../ui/dom.js";
import { GUTTER, rowAtX, tickRows, xOfRow } from "./cells.js";
import { SPECIAL } from "./colors.js";
import { STATE, at } from "./data.js";
import { Tooltip } from "./tooltip.js";

const HEIGHT = 150;
const PAD = { top: 16, right: 10, bottom: 18 }; // the top band holds the flags, the bottom one step labels
const LEGEND_LINES = 5;
const MAX_TICKS = 5; // decade labels on the y axis, at most
const INSET = 8; // left margin of the title and legend, as the heatmap's labels
export const FLAG_COLORS = { explode: "#d32f2f", vanish: "#0277bd" };

/**
 * @typedef {object} Series
 * @property {number} column
 * @property {string} color
 * @property {boolean} primary
 * @property {import("./flags.js").Flag[]} flags
 */

export class LineChart {
  /**
   * @param {{title: string, array: "grad"|"ratio", gaps: boolean, marks: boolean}} options
   *   gaps: a missing value breaks the line (else points are joined across it);
   *   marks: draw flags, zero and NaN/Inf marks, the vanish threshold
   */
  constructor(options) {
    this.options = options;
    this.svg = s("svg", { class: "gv-chart-svg", height: HEIGHT, role: "img", "aria-label": options.title });
    this.el = h("div", { class: "gv-chart" }, this.svg);
    this.tooltip = new Tooltip(this.el);
    this.input = null;
    this.svg.addEventListener("pointermove", (e) => this.#onMove(e));
    this.svg.addEventListener("pointerleave", () => this.#onLeave());
    this.resize = typeof ResizeObserver === "function" ? new ResizeObserver(() => this.input && this.render(this.input)) : null;
    this.resize?.observe(this.el);
  }

  /**
   * @param {{data: import("./data.js").WatchData, series: Series[], window: {lo: number, hi: number},
   *          cursor: number|null, vanish: number}} input
   */
  render(input) {
    this.input = input;
    const { data, series, window } = input;
    const width = Math.max(GUTTER + 100, this.el.clientWidth || 800);
    const plot = { x: GUTTER, y: PAD.top, w: width - GUTTER - PAD.right, h: HEIGHT - PAD.top - PAD.bottom };
    this.plot = plot;
    const values = this.options.array;
    const domain = logDomain(data, values, series, window);
    const y = (v) => plot.y + plot.h - ((Math.log10(v) - domain.min) / (domain.max - domain.min)) * plot.h;
    const x = (row) => plot.x + xOfRow(row, plot.w, window);
    this.svg.setAttribute("width", width);
    this.svg.setAttribute("viewBox", `0 0 ${width} ${HEIGHT}`);

    const parts = [s("rect", { class: "gv-chart-frame", x: plot.x, y: plot.y, width: plot.w, height: plot.h })];
    for (const tick of yTicks(domain)) {
      const yk = y(tick.value);
      parts.push(s("line", { class: "gv-chart-grid", x1: plot.x, x2: plot.x + plot.w, y1: yk, y2: yk }));
      parts.push(text(plot.x - 6, yk + 4, tick.label, "gv-chart-tick", "end"));
    }
    for (const row of tickRows(data.steps, window)) {
      parts.push(text(x(row), plot.y + plot.h + 13, String(data.steps[row]), "gv-chart-tick", "middle"));
    }
    if (this.options.marks && input.vanish >= 10 ** domain.min && input.vanish <= 10 ** domain.max) {
      const yv = y(input.vanish);
      parts.push(s("line", { class: "gv-chart-vanish", x1: plot.x, x2: plot.x + plot.w, y1: yv, y2: yv }));
    }
    const ordered = [...series].sort((a, b) => Number(a.primary) - Number(b.primary)); // primary on top
    for (const line of ordered) parts.push(...this.#series(line, x, y));
    if (series.length && !parts.some((el) => el.nodeName === "circle" || el.getAttribute("d"))) {
      parts.push(text(plot.x + plot.w / 2, plot.y + plot.h / 2, "no value in these steps", "gv-chart-tick", "middle"));
    }
    const first = data.firstNonfinite;
    if (first && first.row >= window.lo && first.row < window.hi) {
      const xf = x(first.row);
      parts.push(s("line", { class: "gv-first-nan", x1: xf, x2: xf, y1: plot.y - 4, y2: plot.y + plot.h, "data-row": first.row }));
      parts.push(text(xf + 3, plot.y - 5, `first NaN/Inf · step ${first.step}`, "gv-first-nan-label"));
    }
    this.cursor = s("line", { class: "gv-cursor", y1: plot.y, y2: plot.y + plot.h });
    this.hoverLine = s("line", { class: "gv-chart-hover", y1: plot.y, y2: plot.y + plot.h, visibility: "hidden" });
    parts.push(this.cursor, this.hoverLine, ...this.#gutter(data, series));
    this.svg.replaceChildren(...parts);
    this.setCursor(input.cursor);
  }

  /** Move the step cursor without redrawing the lines (the slider calls this on every input). */
  setCursor(row) {
    if (!this.input || !this.cursor) return;
    const { window } = this.input;
    const shown = row !== null && row >= window.lo && row < window.hi;
    const xc = shown ? this.plot.x + xOfRow(row, this.plot.w, window) : -10;
    this.cursor.setAttribute("x1", xc);
    this.cursor.setAttribute("x2", xc);
    this.cursor.setAttribute("visibility", shown ? "visible" : "hidden");
  }

  destroy() {
    this.resize?.disconnect();
  }

  #series(line, x, y) {
    const { data, window } = this.input;
    const { array, gaps, marks } = this.options;
    const out = [];
    let d = "";
    let pen = "M";
    const points = [];
    for (let row = window.lo; row < window.hi; row++) {
      const v = at(data, array, row, line.column);
      const state = at(data, "state", row, line.column);
      if (v > 0 && Number.isFinite(v) && (array !== "grad" || state === STATE.finite)) {
        d += `${pen}${x(row).toFixed(1)},${y(v).toFixed(1)}`;
        pen = "L";
        points.push(row);
      } else if (gaps) {
        pen = "M";
      }
      if (marks && (state === STATE.zero || state === STATE.nonfinite)) {
        // a log scale has no place for these: a tick on the bottom edge, in the state's colour
        const kind = state === STATE.zero ? "zero" : "nonfinite";
        const y0 = this.plot.y + this.plot.h - 6;
        out.push(s("rect", { class: `gv-chart-state gv-state-${kind}`, x: x(row) - 1, y: y0, width: 2, height: 6, fill: SPECIAL[kind] }));
      }
    }
    const width = line.primary ? 2 : 1.25;
    out.unshift(s("path", { class: "gv-chart-line", d, stroke: line.color, "stroke-width": width, "data-column": line.column }));
    if (points.length && points.length < this.plot.w / 6) {
      for (const row of points) {
        out.push(s("circle", { cx: x(row), cy: y(at(data, array, row, line.column)), r: line.primary ? 2.5 : 2, fill: line.color }));
      }
    }
    if (marks) for (const flag of line.flags) if (flag.row >= window.lo && flag.row < window.hi) out.push(flagMark(flag, x(flag.row), this.plot.y, data, line.column));
    return out;
  }

  /** Title, then one legend line per compared parameter (names as SVG text nodes). */
  #gutter(data, series) {
    const out = [text(INSET, 12, this.options.title, "gv-chart-title")];
    series.slice(0, LEGEND_LINES).forEach((line, i) => {
      const name = clip(data.names[line.column] || "(unnamed)", 26);
      const yl = 30 + i * 15;
      out.push(s("rect", { x: INSET, y: yl - 8, width: 10, height: 3, fill: line.color }));
      const label = text(INSET + 14, yl - 3, name, line.primary ? "gv-chart-series gv-primary" : "gv-chart-series");
      label.setAttribute("data-name", data.names[line.column]); // the whole name (setAttribute: not markup)
      out.push(label);
    });
    if (series.length > LEGEND_LINES) out.push(text(INSET + 14, 30 + LEGEND_LINES * 15 - 3, `+${series.length - LEGEND_LINES} more`, "gv-chart-series"));
    if (!series.length) out.push(text(INSET, 30, "Click a heatmap row to plot it.", "gv-chart-series"));
    return out;
  }

  #onMove(e) {
    if (!this.input?.data.rows || !this.plot) return;
    const box = this.svg.getBoundingClientRect();
    const px = e.clientX - box.left - this.plot.x;
    if (px < 0 || px > this.plot.w) return this.#onLeave();
    const row = rowAtX(px, this.plot.w, this.input.window);
    const xr = this.plot.x + xOfRow(row, this.plot.w, this.input.window);
    this.hoverLine.setAttribute("x1", xr);
    this.hoverLine.setAttribute("x2", xr);
    this.hoverLine.setAttribute("visibility", "visible");
    const { data, series } = this.input;
    const lines = series.map((line) => [data.names[line.column], formatNumber(at(data, this.options.array, row, line.column))]);
    this.tooltip.show(e.clientX, e.clientY, [`step ${data.steps[row]}`, ...lines]);
  }

  #onLeave() {
    this.hoverLine?.setAttribute("visibility", "hidden");
    this.tooltip.hide();
  }
}

/** log10 extent of the positive finite values in the window, padded, at least one decade. */
export function logDomain(data, array, series, { lo, hi }) {
  let min = Infinity;
  let max = -Infinity;
  for (const { column } of series) {
    for (let row = lo; row < hi; row++) {
      const v = at(data, array, row, column);
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
 * @returns {{value: number, label: string}[]}
 */
export function yTicks(domain) {
  const every = Math.max(1, Math.ceil((domain.max - domain.min) / MAX_TICKS));
  const pow = (k) => Number(`1e${k}`); // exact, unlike 10 ** k
  const inside = (v) => Math.log10(v) >= domain.min && Math.log10(v) <= domain.max;
  const ticks = [];
  for (let k = Math.floor(domain.max); k >= domain.min; k -= every) ticks.push({ value: pow(k), label: decade(k) });
  if (ticks.length >= 2) return ticks;
  for (let k = Math.floor(domain.min); k <= domain.max; k++) {
    for (const v of [2 * pow(k), 5 * pow(k)]) if (inside(v)) ticks.push({ value: v, label: formatNumber(v) });
  }
  return ticks;
}

/** "0.01", "1", "1000", "1e-5": a power of ten as a tick label. */
export const decade = (k) => (k >= -2 && k <= 3 ? String(Number((10 ** k).toFixed(Math.max(0, -k)))) : `1e${k}`);

function flagMark(flag, x, top, data, column) {
  const up = flag.kind === "explode";
  const y0 = top - 9;
  const d = up ? `M${x - 4},${y0 + 7}L${x + 4},${y0 + 7}L${x},${y0}Z` : `M${x - 4},${y0}L${x + 4},${y0}L${x},${y0 + 7}Z`;
  const why = up
    ? `exploding: ${formatNumber(flag.value)} is ${formatNumber(flag.value / flag.median)}× the running median ${formatNumber(flag.median)}`
    : `vanishing: ${formatNumber(flag.value)}`;
  const title = s("title");
  title.textContent = `step ${data.steps[flag.row]} · ${data.names[column]} · ${why}`;
  const mark = s("path", { class: `gv-flag gv-flag-${flag.kind}`, d, fill: FLAG_COLORS[flag.kind], "data-row": flag.row });
  mark.append(title);
  return mark;
}

function text(x, y, content, cls, anchor = "start") {
  const el = s("text", { x, y, class: cls, "text-anchor": anchor });
  el.textContent = content;
  return el;
}
