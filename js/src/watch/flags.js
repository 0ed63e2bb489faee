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
