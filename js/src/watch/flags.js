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
 * Per column: the first row flagged "exploding" by flagsOf (-1: none), for every column at once (the
 * banner). The same rule as flagsOf, with the window kept sorted so a row costs O(MEDIAN_WINDOW)
 * instead of a selection, and a column left alone once it has exploded.
 * @param {import("./data.js").WatchData} data
 * @param {number} explode
 * @returns {{first: Int32Array}}
 */
export function explosions(data, explode) {
  return new ExplosionTracker().update(data, explode, 0);
}

/**
 * explosions() kept up to date while a run records: each column's window is kept between calls, so
 * an update that only appends rows costs only the new rows (a live run's update, every half second).
 */
export class ExplosionTracker {
  constructor() {
    this.key = ""; // the columns and threshold the state below is for
    this.done = 0; // rows taken into account
    this.params = 0;
    this.first = new Int32Array(0);
    this.n = new Uint8Array(0); // values in each column's window
    this.head = new Uint8Array(0); // its oldest value in `ring`, once full
    this.ring = new Float64Array(0); // [params, MEDIAN_WINDOW] the windows, in arrival order
    this.sorted = new Float64Array(0); // [params, MEDIAN_WINDOW + 1] the same values, in order
  }

  /**
   * @param {import("./data.js").WatchData} data
   * @param {number} explode
   * @param {number} kept  rows at the start of `data` unchanged since the last call (0: start over)
   * @returns {{first: Int32Array}}
   */
  update(data, explode, kept) {
    const key = `${data.names.join("\u0000")}\u0001${explode}`;
    if (key !== this.key || kept < this.done || kept > data.rows) this.#reset(key, data.params);
    const W = MEDIAN_WINDOW;
    const { first, n, head, ring, sorted } = this;
    for (let column = 0; column < data.params; column++) {
      if (first[column] >= 0) continue; // its first explosion is known: the rest cannot change it
      const r0 = column * W;
      const s0 = column * (W + 1);
      let size = n[column];
      let oldest = head[column];
      for (let row = this.done; row < data.rows; row++) {
        const i = row * data.params + column;
        if (data.state[i] !== STATE.finite) continue;
        const value = data.grad[i];
        if (!(value > 0) || !Number.isFinite(value)) continue;
        if (size >= MIN_HISTORY) {
          const mid = s0 + (size >> 1);
          const median = size % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
          if (value > explode * median) {
            first[column] = row;
            break;
          }
        }
        let at = s0 + size; // insertion by shifting: a window of 50 beats copyWithin's call cost
        while (at > s0 && sorted[at - 1] > value) {
          sorted[at] = sorted[at - 1];
          at--;
        }
        sorted[at] = value;
        if (size < W) {
          ring[r0 + size++] = value;
          continue;
        }
        const end = s0 + size; // the oldest leaves the window
        for (let k = s0 + sortedIndex(sorted.subarray(s0, end + 1), size + 1, ring[r0 + oldest]); k < end; k++) sorted[k] = sorted[k + 1];
        ring[r0 + oldest] = value;
        oldest = (oldest + 1) % W;
      }
      n[column] = size;
      head[column] = oldest;
    }
    this.done = data.rows;
    return { first };
  }

  /**
   * @param {string} key
   * @param {number} params
   */
  #reset(key, params) {
    this.key = key;
    this.done = 0;
    this.params = params;
    this.first = new Int32Array(params).fill(-1);
    this.n = new Uint8Array(params);
    this.head = new Uint8Array(params);
    this.ring = new Float64Array(params * MEDIAN_WINDOW);
    this.sorted = new Float64Array(params * (MEDIAN_WINDOW + 1));
  }
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
