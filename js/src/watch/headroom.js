// Precision headroom in the watch view (timeline.headroom and the `headroom` trait, js/STATE.md;
// Python: gradviz/view/_watch_headroom.py): the banner's line when a parameter heads for overflow,
// and the series the headroom chart draws for a selected parameter, its gradient's peak against
// its dtype's limit. Python writes every sentence; nothing here composes words about the run.
// Pure functions over WatchData.
import { readNumber } from "../types.js";
import { rowAtOrAfter } from "./data.js";

/** @typedef {import("./data.js").WatchData} WatchData */
/** @typedef {import("../types.js").WatchHeadroom} WatchHeadroom */
/** @typedef {import("../types.js").HeadroomParam} HeadroomParam */

/**
 * The timeline's headroom entry, or null (not measured, or nothing recorded yet).
 * @param {WatchData} data
 * @returns {WatchHeadroom|null}
 */
export function headroomOf(data) {
  const entry = data.timeline.headroom;
  return entry && Array.isArray(entry.params) ? entry : null;
}

/**
 * The banner's line when some parameter heads for overflow: its parameters (closest to overflow
 * first; "Show it" selects the first) and the row where the first of them was flagged.
 * @param {WatchData} data
 * @returns {import("./problems.js").Problem|null}
 */
export function headroomProblem(data) {
  const entry = headroomOf(data);
  if (!entry || !entry.text || !entry.flagged.length || !data.rows) return null;
  const columns = entry.flagged.filter((c) => c >= 0 && c < data.params);
  if (!columns.length) return null;
  const first = entry.params[columns[0]]?.flagged_at ?? null;
  const row = first === null ? data.rows - 1 : (rowAtOrAfter(data, first) ?? data.rows - 1);
  return { kind: "headroom", title: entry.title, text: entry.text, columns, row };
}

/**
 * A column's headroom record, and whether the chart can draw its series.
 * @param {WatchData} data
 * @param {number} column
 * @returns {{param: HeadroomParam|null, charted: boolean, note: string}}
 */
export function headroomAt(data, column) {
  const entry = headroomOf(data);
  if (!entry) return { param: null, charted: false, note: "" };
  const param = entry.params[column] ?? null;
  return { param, charted: Boolean(entry.charted[column] && data.headroom && param), note: entry.note };
}

/**
 * The gradient's peak (the dtype's limit / 2^bits) at each row, for the chart's log scale: NaN where
 * no headroom was kept for that row.
 * @param {WatchData} data
 * @param {number} column
 * @param {number} limit
 * @returns {Float32Array}
 */
export function peakValues(data, column, limit) {
  const out = new Float32Array(data.rows).fill(NaN);
  const bits = data.headroom;
  if (!bits) return out;
  for (let row = 0; row < data.rows; row++) {
    const b = bits[row * data.params + column];
    if (!Number.isNaN(b)) out[row] = limit / 2 ** b;
  }
  return out;
}

/**
 * The dtype's limit of a record, as a number (NaN when unknown).
 * @param {HeadroomParam} param
 */
export const limitOf = (param) => readNumber(param.limit) ?? NaN;
