// What the charts plot: a parameter's values over the rows, the median over all parameters, and,
// before anything is clicked, the few parameters furthest from that median (the layers to look at).
// Pure functions over WatchData.
import { STATE, at } from "./data.js";

/** @typedef {import("./data.js").WatchData} WatchData */

/** Parameters plotted before a row is clicked. */
export const WORST_COUNT = 3;
const MAX_SCORED_ROWS = 512; // rows sampled (evenly) when ranking parameters in a long run

/**
 * @typedef {object} Series
 * @property {"param"|"median"} kind
 * @property {number|null} column     the parameter (param series)
 * @property {string} label
 * @property {string} [key]           the chart key's shorter text (default: label)
 * @property {string} color
 * @property {boolean} primary        drawn thicker, on top
 * @property {Float32Array} values    one per row: the value drawn, NaN where there is none
 * @property {Uint8Array|null} states one per row: the gradient's state (param series)
 * @property {import("./flags.js").Flag[]} flags
 */

/**
 * Values of column `c` of `array` ("grad" or "ratio") over every row. A gradient norm is drawn only
 * where the gradient is finite (None, zero and NaN have their own marks); a ratio where it was measured.
 * @param {WatchData} data
 * @param {"grad"|"ratio"} array
 * @param {number} c
 * @returns {Float32Array}
 */
export function columnValues(data, array, c) {
  const values = new Float32Array(data.rows);
  for (let row = 0; row < data.rows; row++) {
    const v = at(data, array, row, c);
    values[row] = array === "grad" && at(data, "state", row, c) !== STATE.finite ? NaN : v;
  }
  return values;
}

/**
 * The gradient's state at each row of column `c`.
 * @param {WatchData} data
 * @param {number} c
 * @returns {Uint8Array}
 */
export function columnStates(data, c) {
  const states = new Uint8Array(data.rows);
  for (let row = 0; row < data.rows; row++) states[row] = at(data, "state", row, c);
  return states;
}

/**
 * The median over the parameters at each row: of the finite gradient norms, or of the measured
 * update ratios. NaN where no parameter has a value (a ratio: the rows where nothing was measured).
 * @param {WatchData} data
 * @param {"grad"|"ratio"} array
 * @returns {Float32Array}
 */
export function medianValues(data, array) {
  const { params, state } = data;
  const source = array === "grad" ? data.grad : data.ratio;
  const values = new Float32Array(data.rows);
  const found = new Float32Array(params);
  for (let row = 0; row < data.rows; row++) {
    let n = 0;
    for (let c = 0, i = row * params; c < params; c++, i++) {
      const v = source[i];
      if (array === "grad" ? state[i] === STATE.finite && v > 0 : Number.isFinite(v)) found[n++] = v;
    }
    values[row] = n ? median(found, n) : NaN;
  }
  return values;
}

/**
 * Median of a[0..n) in linear time (quickselect; reorders `a`).
 * @param {Float32Array|Float64Array} a
 * @param {number} n
 */
export function median(a, n) {
  const mid = n >> 1;
  const hi = select(a, 0, n - 1, mid);
  if (n % 2) return hi;
  let lo = -Infinity;
  for (let i = 0; i < mid; i++) if (a[i] > lo) lo = a[i]; // after select, a[0..mid) <= a[mid]
  return (lo + hi) / 2;
}

/**
 * The k-th smallest of a[left..right] (reorders that range).
 * @param {Float32Array|Float64Array} a
 * @param {number} left
 * @param {number} right
 * @param {number} k
 */
function select(a, left, right, k) {
  while (right > left) {
    const pivot = a[(left + right) >> 1];
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return a[k];
  }
  return a[k];
}

/**
 * The `count` parameters whose gradients stray furthest from the rest: any NaN/Inf first, then
 * exactly zero, then missing (frozen parameters aside), then the largest distance in decades from
 * the median norm at any step (vanishing and exploding alike). Ties keep model order.
 * @param {WatchData} data
 * @param {Float32Array} median  medianValues(data, "grad")
 * @returns {number[]} columns
 */
export function worstColumns(data, median, count = WORST_COUNT) {
  const { params, rows, state, grad, frozen } = data;
  const every = Math.max(1, Math.ceil(rows / MAX_SCORED_ROWS)); // norms: sampled rows; states: every row
  const score = new Float64Array(params).fill(-1);
  for (let row = 0, i = 0; row < rows; row++) {
    const sampled = row % every === 0;
    const m = median[row] > 0 ? Math.log10(median[row]) : NaN;
    for (let c = 0; c < params; c++, i++) {
      const s = state[i];
      let v;
      if (s === STATE.nonfinite) v = 4000;
      else if (s === STATE.zero) v = 3000;
      else if (s === STATE.none) v = frozen[c] ? -1 : 2000;
      else if (!sampled) continue;
      else v = grad[i] > 0 && m === m ? Math.abs(Math.log10(grad[i]) - m) : 0;
      if (v > score[c]) score[c] = v;
    }
  }
  /** @type {{c: number, v: number}[]} */
  const ranked = [];
  score.forEach((v, c) => v >= 0 && ranked.push({ c, v }));
  ranked.sort((a, b) => b.v - a.v || a.c - b.c);
  return ranked.slice(0, count).map((r) => r.c);
}
