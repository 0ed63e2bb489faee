// What the charts plot: a parameter's values over the rows, the median over all parameters, and,
// before anything is clicked, the few parameters furthest from that median (the layers to look at).
// Pure functions over WatchData.
import { STATE, at } from "./data.js";
import { medianOf } from "./flags.js";

/** Parameters plotted before a row is clicked. */
export const WORST_COUNT = 3;
const MAX_SCORED_ROWS = 512; // rows sampled (evenly) when ranking parameters in a long run

/**
 * @typedef {object} Series
 * @property {"param"|"median"} kind
 * @property {number|null} column     the parameter (param series)
 * @property {string} label
 * @property {string} color
 * @property {boolean} primary        drawn thicker, on top
 * @property {Float32Array} values    one per row: the value drawn, NaN where there is none
 * @property {Uint8Array|null} states one per row: the gradient's state (param series)
 * @property {import("./flags.js").Flag[]} flags
 */

/**
 * Values of column `c` of `array` ("grad" or "ratio") over every row. A gradient norm is drawn only
 * where the gradient is finite (None, zero and NaN have their own marks); a ratio where it was measured.
 */
export function columnValues(data, array, c) {
  const values = new Float32Array(data.rows);
  for (let row = 0; row < data.rows; row++) {
    const v = at(data, array, row, c);
    values[row] = array === "grad" && at(data, "state", row, c) !== STATE.finite ? NaN : v;
  }
  return values;
}

export function columnStates(data, c) {
  const states = new Uint8Array(data.rows);
  for (let row = 0; row < data.rows; row++) states[row] = at(data, "state", row, c);
  return states;
}

/**
 * The median over the parameters at each row: of the finite gradient norms, or of the measured
 * update ratios. NaN where no parameter has a value (a ratio: the rows where nothing was measured).
 */
export function medianValues(data, array) {
  const values = new Float32Array(data.rows);
  const found = [];
  for (let row = 0; row < data.rows; row++) {
    found.length = 0;
    for (let c = 0; c < data.params; c++) {
      const v = at(data, array, row, c);
      if (array === "grad" ? at(data, "state", row, c) === STATE.finite && v > 0 : Number.isFinite(v)) found.push(v);
    }
    values[row] = found.length ? medianOf(found) : NaN;
  }
  return values;
}

/**
 * The `count` parameters whose gradients stray furthest from the rest: any NaN/Inf first, then
 * exactly zero, then missing (frozen parameters aside), then the largest distance in decades from
 * the median norm at any step (vanishing and exploding alike). Ties keep model order.
 * @param {Float32Array} median  medianValues(data, "grad")
 */
export function worstColumns(data, median, count = WORST_COUNT) {
  const every = Math.max(1, Math.ceil(data.rows / MAX_SCORED_ROWS));
  const scores = [];
  for (let c = 0; c < data.params; c++) {
    let score = -1;
    for (let row = 0; row < data.rows; row += every) score = Math.max(score, cellScore(data, row, c, median[row]));
    if (every > 1) for (let row = 0; row < data.rows; row++) if (at(data, "state", row, c) !== STATE.finite) score = Math.max(score, cellScore(data, row, c, median[row]));
    if (score >= 0) scores.push({ c, score });
  }
  scores.sort((a, b) => b.score - a.score || a.c - b.c);
  return scores.slice(0, count).map((s) => s.c);
}

function cellScore(data, row, c, median) {
  const state = at(data, "state", row, c);
  if (state === STATE.nonfinite) return 4000;
  if (state === STATE.zero) return 3000;
  if (state === STATE.none) return data.frozen[c] ? -1 : 2000;
  const v = at(data, "grad", row, c);
  return v > 0 && median > 0 ? Math.abs(Math.log10(v) - Math.log10(median)) : 0;
}
