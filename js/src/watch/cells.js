// The heatmap's pure parts: cell pixels (one pixel per cell, later scaled onto the canvas),
// row geometry (rows grouped by module, a gap between modules) and hit testing.
import { cellRgb } from "./colors.js";
import { STATE } from "./data.js";

/** Width (px) of the label column left of every plot, so heatmap, slider and charts share one x axis. */
export const GUTTER = 190;
export const GROUP_GAP = 3;
const THIN_GAP = 1;
const THICK_GAP_ROW = 8; // rows at least this tall get GROUP_GAP between modules
export const MIN_ROW = 3;
export const MAX_ROW = 16;
/** The heatmap scrolls vertically beyond this height. */
export const MAX_HEIGHT = 320;
/** Row labels are written only when rows are at least this tall. */
export const LABEL_ROW = 11;

/**
 * Paint rows [from, to) of the history into `pixels`: an RGBA image `width` pixels wide (x = row,
 * so the image can hold more rows later) and one pixel row per parameter in display order.
 * @param {Uint8ClampedArray} pixels
 * @param {number} width
 * @param {import("./data.js").WatchData} data
 * @param {{min: number, max: number}|null} range
 */
export function paintRows(pixels, width, data, range, from, to) {
  const { params, grad, state, order } = data;
  for (let y = 0; y < order.length; y++) {
    const column = order[y];
    for (let row = from; row < to; row++) {
      const offset = (y * width + row) * 4;
      const i = row * params + column;
      cellRgb(state[i], grad[i], range, pixels, offset);
      pixels[offset + 3] = 255;
    }
  }
}

// When several rows share one pixel column, the cell shown is the most telling one: a NaN/Inf
// step, then a zero, then a missing gradient, else the largest norm. A one-step spike (an
// overflow skipped by a GradScaler, say) stays visible however far the view is zoomed out.
const RANK = new Uint8Array([2, 3, 1, 4]); // by state: none, zero, finite, nonfinite

/**
 * Paint the rows of `window` reduced to `cols` pixel columns (cols < rows in the window) into
 * `pixels` (RGBA, `cols` wide, one pixel row per parameter in display order).
 */
export function paintReduced(pixels, cols, data, range, { lo, hi }) {
  const { params, grad, state, order } = data;
  const span = hi - lo;
  for (let y = 0; y < order.length; y++) {
    const column = order[y];
    for (let x = 0; x < cols; x++) {
      const r0 = lo + Math.floor((x * span) / cols);
      const r1 = Math.max(r0 + 1, lo + Math.floor(((x + 1) * span) / cols));
      let best = r0 * params + column;
      for (let row = r0 + 1; row < r1; row++) {
        const i = row * params + column;
        const a = RANK[state[i]];
        const b = RANK[state[best]];
        if (a > b || (a === b && state[i] === STATE.finite && grad[i] > grad[best])) best = i;
      }
      const offset = (y * cols + x) * 4;
      cellRgb(state[best], grad[best], range, pixels, offset);
      pixels[offset + 3] = 255;
    }
  }
}

/**
 * Row height, the gap between module groups and the top of each group, in CSS px. Thin rows get
 * thin gaps: many small modules (a Linear's weight and bias) must not double the height.
 * @param {import("./data.js").Group[]} groups
 * @param {number} params
 * @returns {{rowH: number, gap: number, tops: number[], height: number}}
 */
export function rowLayout(groups, params) {
  const fit = (gap) => Math.floor((MAX_HEIGHT - Math.max(0, groups.length - 1) * gap) / Math.max(1, params));
  const gap = fit(THIN_GAP) >= THICK_GAP_ROW ? GROUP_GAP : THIN_GAP;
  const rowH = Math.max(MIN_ROW, Math.min(MAX_ROW, fit(gap)));
  const tops = [];
  let y = 0;
  for (const g of groups) {
    tops.push(y);
    y += g.count * rowH + gap;
  }
  return { rowH, gap, tops, height: Math.max(0, y - gap) };
}

/**
 * Module labels for the gutter: one band per group when it is tall enough to read, else one per
 * run of consecutive groups under a common ancestor ("layers.3" over its attn and mlp groups).
 * @returns {{text: string, top: number, height: number, title: string}[]}
 */
export function moduleBands(groups, layout) {
  const bottom = (k) => layout.tops[k] + groups[k].count * layout.rowH;
  const bands = [];
  let k = 0;
  while (k < groups.length) {
    let path = groups[k].module;
    let end;
    for (;;) {
      end = k;
      while (end + 1 < groups.length && isWithin(groups[end + 1].module, path)) end++;
      if (bottom(end) - layout.tops[k] >= LABEL_ROW || path === "") break;
      path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
    }
    const title = groups.slice(k, end + 1).map((g) => g.module || "(top level)").join(", ");
    bands.push({ text: path || "(top level)", top: layout.tops[k], height: bottom(end) - layout.tops[k], title });
    k = end + 1;
  }
  return bands;
}

const isWithin = (module, path) => path === "" || module === path || module.startsWith(`${path}.`);

/** The display row under `y` (CSS px from the top of the plot), or null in a gap or outside. */
export function displayRowAt(layout, groups, y) {
  for (let k = groups.length - 1; k >= 0; k--) {
    if (y < layout.tops[k]) continue;
    const i = Math.floor((y - layout.tops[k]) / layout.rowH);
    return i < groups[k].count ? groups[k].start + i : null;
  }
  return null;
}

/** Top (CSS px) of a display row. */
export function topOfDisplayRow(layout, groups, displayRow) {
  for (let k = groups.length - 1; k >= 0; k--) {
    if (displayRow >= groups[k].start) return layout.tops[k] + (displayRow - groups[k].start) * layout.rowH;
  }
  return 0;
}

/**
 * The rows [lo, hi) drawn across `width` px: each row a column of equal width.
 * @typedef {{lo: number, hi: number}} RowWindow
 */

/** The row at `x` px. */
export const rowAtX = (x, width, { lo, hi }) => Math.max(lo, Math.min(hi - 1, lo + Math.floor((x / width) * (hi - lo))));

/** The centre (px) of `row`'s column. */
export const xOfRow = (row, width, { lo, hi }) => ((row - lo + 0.5) / (hi - lo)) * width;

/**
 * Up to `count` tick rows with round step numbers across the window.
 * @param {Int32Array} steps
 * @returns {number[]} rows
 */
export function tickRows(steps, { lo, hi }, count = 6) {
  if (hi <= lo || hi > steps.length) return [];
  const first = steps[lo];
  const last = steps[hi - 1];
  if (last <= first) return [lo];
  const raw = (last - first) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const unit = [1, 2, 5, 10].map((m) => m * magnitude).find((u) => u >= raw) ?? raw;
  const every = Math.max(1, Math.round(unit));
  const rows = [];
  let r = lo;
  for (let s = Math.ceil(first / every) * every; s <= last; s += every) {
    while (r < hi - 1 && steps[r] < s) r++;
    if (rows.at(-1) !== r) rows.push(r);
  }
  return rows;
}
