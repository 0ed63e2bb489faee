// Flags on a parameter's gradient norm over steps: "vanishing" (a finite norm below the
// timeline's `vanish`) and "exploding" (a jump above `explode` x the running median of the
// norms before it). Pure functions over WatchData.
import { STATE } from "./data.js";
import { median } from "./series.js";

/** Norms before a row that the running median looks at. */
export const MEDIAN_WINDOW = 50;
/** No "exploding" flag until this many earlier norms give a median worth comparing to. */
export const MIN_HISTORY = 5;

/**
 * A flag at `row`: `value` is the grad norm; an exploding one also has the running median it jumped from.
 * @typedef {{row: number, kind: "vanish", value: number}} VanishFlag
 * @typedef {{row: number, kind: "explode", value: number, median: number}} ExplodeFlag
 * @typedef {VanishFlag|ExplodeFlag} Flag
 */

/**
 * @param {import("./data.js").WatchData} data
 * @param {number} column
 * @param {{vanish: number, explode: number}} thresholds
 * @returns {Flag[]}
 */
export function flagsOf(data, column, { vanish, explode }) {
  /** @type {Flag[]} */
  const flags = [];
  /** @type {number[]} */
  const window = [];
  const limit = Math.fround(vanish); // as health.js (limitOf): the norms are float32
  for (let row = 0; row < data.rows; row++) {
    const i = row * data.params + column;
    if (data.state[i] !== STATE.finite) continue;
    const value = data.grad[i];
    if (!(value > 0) || !Number.isFinite(value)) continue;
    if (value < limit) flags.push({ row, kind: "vanish", value });
    if (window.length >= MIN_HISTORY) {
      const median = medianOf(window);
      if (value > explode * median) flags.push({ row, kind: "explode", value, median });
    }
    window.push(value);
    if (window.length > MEDIAN_WINDOW) window.shift();
  }
  return flags;
}

const scratch = new Float64Array(MEDIAN_WINDOW);

/**
 * Median of `values` (left unchanged).
 * @param {number[]} values
 */
export function medianOf(values) {
  const n = values.length;
  const a = n <= scratch.length ? scratch : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = values[i];
  return median(a, n);
}

/**
 * The flags to draw: each exploding step, and only the first step of each run of vanishing steps
 * (with `more`: how many vanishing rows follow it), so a layer that vanishes for the whole run
 * gets one mark, not one per step.
 * @param {Flag[]} flags
 * @returns {(Flag & {more?: number})[]}
 */
export function drawnFlags(flags) {
  /** @type {(Flag & {more?: number})[]} */
  const out = [];
  /** @type {{last: number, flag: VanishFlag & {more: number}}|null} */
  let run = null;
  for (const flag of flags) {
    if (flag.kind !== "vanish") {
      out.push(flag);
      continue;
    }
    if (run && flag.row === run.last + 1) {
      run.last = flag.row;
      run.flag.more++;
      continue;
    }
    run = { last: flag.row, flag: { ...flag, more: 0 } };
    out.push(run.flag);
  }
  return out;
}

/**
 * Per column: the first row flagged "exploding" by flagsOf (-1: none) and how many rows are, for
 * every column at once (the banner). The same rule as flagsOf, with the window kept sorted so a row
 * costs O(MEDIAN_WINDOW) instead of a selection.
 * @param {import("./data.js").WatchData} data
 * @param {number} explode
 * @returns {{first: Int32Array, rows: Uint32Array}}
 */
export function explosions(data, explode) {
  const first = new Int32Array(data.params).fill(-1);
  const rows = new Uint32Array(data.params);
  const ring = new Float64Array(MEDIAN_WINDOW); // the window, oldest at `head` once full
  const sorted = new Float64Array(MEDIAN_WINDOW + 1); // the same values, in order
  for (let column = 0; column < data.params; column++) {
    let n = 0;
    let head = 0;
    for (let row = 0; row < data.rows; row++) {
      const i = row * data.params + column;
      if (data.state[i] !== STATE.finite) continue;
      const value = data.grad[i];
      if (!(value > 0) || !Number.isFinite(value)) continue;
      if (n >= MIN_HISTORY) {
        const median = n % 2 ? sorted[n >> 1] : (sorted[(n >> 1) - 1] + sorted[n >> 1]) / 2;
        if (value > explode * median) {
          if (first[column] < 0) first[column] = row;
          rows[column]++;
        }
      }
      let at = n; // insertion by shifting: a window of 50 beats copyWithin's call cost
      while (at > 0 && sorted[at - 1] > value) {
        sorted[at] = sorted[at - 1];
        at--;
      }
      sorted[at] = value;
      if (n < MEDIAN_WINDOW) {
        ring[n++] = value;
        continue;
      }
      for (let k = sortedIndex(sorted, n + 1, ring[head]); k < n; k++) sorted[k] = sorted[k + 1]; // the oldest leaves
      ring[head] = value;
      head = (head + 1) % MEDIAN_WINDOW;
    }
  }
  return { first, rows };
}

/**
 * The first index of `sorted[0..n)` whose value is not below `value`.
 * @param {Float64Array} sorted
 * @param {number} n
 * @param {number} value
 */
function sortedIndex(sorted, n, value) {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
