// The heatmap's pure parts: cell pixels (one pixel per cell, later scaled onto the canvas),
// row geometry and hit testing. Cells are read from the grid (grid.js): a column per parameter
// and per module band; an image has one pixel row per grid column listed in `columns`.
import { cellRgb } from "./colors.js";
import { STATE } from "./states.js";

/** Width (px) of the label column left of every plot, so heatmap, slider and charts share one x axis. */
export const GUTTER = 260;
/** Heatmap row height (px): labels are 11 px text, readable at every model size. */
export const MIN_ROW = 15;
export const MAX_ROW = 22;
/** Gap (px) above a row that starts a new module. */
export const GAP = 3;
/** The heatmap scrolls vertically beyond this height. */
export const MAX_HEIGHT = 330;

/**
 * Paint rows [from, to) of the grid into `pixels`: an RGBA image `width` pixels wide (x = row, so
 * the image can hold more rows later) and one pixel row per entry of `columns` (grid columns).
 * @param {Uint8ClampedArray} pixels
 * @param {number} width
 * @param {import("./grid.js").Grid} grid
 * @param {{min: number, max: number}|null} range
 * @param {number} from
 * @param {number} to
 * @param {number[]} columns
 */
export function paintRows(pixels, width, grid, range, from, to, columns) {
  const { width: w, state, grad } = grid;
  columns.forEach((column, y) => {
    for (let row = from; row < to; row++) {
      const offset = (y * width + row) * 4;
      const i = row * w + column;
      cellRgb(state[i], grad[i], range, pixels, offset);
      pixels[offset + 3] = 255;
    }
  });
}

// When several rows share one pixel column, the cell shown is the most telling one: a NaN/Inf
// step, then a zero, then a missing gradient, else the largest norm. A one-step spike (an
// overflow skipped by a GradScaler, say) stays visible however far the view is zoomed out.
const RANK = new Uint8Array([2, 3, 1, 4]); // by state: none, zero, finite, nonfinite

/**
 * Paint the rows of `window` reduced to `cols` pixel columns (cols < rows in the window) into
 * `pixels` (RGBA, `cols` wide, one pixel row per entry of `columns`).
 * @param {Uint8ClampedArray} pixels
 * @param {number} cols
 * @param {import("./grid.js").Grid} grid
 * @param {{min: number, max: number}|null} range
 * @param {RowWindow} window
 * @param {number[]} columns
 */
export function paintReduced(pixels, cols, grid, range, { lo, hi }, columns) {
  const { width: w, state, grad } = grid;
  const span = hi - lo;
  columns.forEach((column, y) => {
    for (let x = 0; x < cols; x++) {
      const r0 = lo + Math.floor((x * span) / cols);
      const r1 = Math.max(r0 + 1, lo + Math.floor(((x + 1) * span) / cols));
      let best = r0 * w + column;
      for (let row = r0 + 1; row < r1; row++) {
        const i = row * w + column;
        const a = RANK[state[i]];
        const b = RANK[state[best]];
        if (a > b || (a === b && state[i] === STATE.finite && grad[i] > grad[best])) best = i;
      }
      const offset = (y * cols + x) * 4;
      cellRgb(state[best], grad[best], range, pixels, offset);
      pixels[offset + 3] = 255;
    }
  });
}

/**
 * Row height for `count` lines with `gaps` module gaps: as tall as fits MAX_HEIGHT, within [MIN_ROW, MAX_ROW].
 * @param {number} count
 */
export const rowHeight = (count, gaps = 0) => Math.max(MIN_ROW, Math.min(MAX_ROW, Math.floor((MAX_HEIGHT - gaps * GAP) / Math.max(1, count))));

/**
 * Index of the line under `y` (px from the top of the plot), or null in a gap or below the last.
 * @param {{top: number}[]} lines
 * @param {number} rowH
 * @param {number} y
 * @returns {number|null}
 */
export function lineAt(lines, rowH, y) {
  let lo = 0;
  let hi = lines.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (lines[mid].top <= y) lo = mid + 1;
    else hi = mid;
  }
  const i = lo - 1;
  return i >= 0 && y < lines[i].top + rowH ? i : null;
}

/**
 * The rows [lo, hi) drawn across `width` px: each row a column of equal width.
 * @typedef {{lo: number, hi: number}} RowWindow
 */

/**
 * The row at `x` px.
 * @param {number} x
 * @param {number} width
 * @param {RowWindow} window
 */
export const rowAtX = (x, width, { lo, hi }) => Math.max(lo, Math.min(hi - 1, lo + Math.floor((x / width) * (hi - lo))));

/**
 * The centre (px) of `row`'s column.
 * @param {number} row
 * @param {number} width
 * @param {RowWindow} window
 */
export const xOfRow = (row, width, { lo, hi }) => ((row - lo + 0.5) / (hi - lo)) * width;

/**
 * Up to `count` tick rows with round step numbers across the window.
 * @param {Int32Array} steps
 * @param {RowWindow} window
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
  /** @type {number[]} */
  const rows = [];
  let r = lo;
  for (let s = Math.ceil(first / every) * every; s <= last; s += every) {
    while (r < hi - 1 && steps[r] < s) r++;
    if (rows.at(-1) !== r) rows.push(r);
  }
  return rows;
}
