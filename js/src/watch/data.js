// Decoding of the watch traits (js/STATE.md, "Watch widget state"; Python side:
// gradviz/view/_watch_state.py) into typed arrays, plus what every panel derives from them:
// the module tree of the rows, the colour range and step lookups. Pure functions.
import { moduleTree } from "./rows.js";
import { STATE } from "./states.js";

/** @typedef {import("../types.js").WatchTraits} WatchTraits */
/** @typedef {import("../types.js").WatchTimeline} WatchTimeline */

/**
 * What readWatch reads the traits from: the widget's model, or a stand-in (a trait not set yet reads
 * undefined).
 * @typedef {{get: <K extends keyof WatchTraits>(key: K) => WatchTraits[K]|undefined}} WatchSource
 */

/**
 * A bytes trait as it arrives (anywidget and the standalone page: a DataView; tests may pass an
 * ArrayBuffer or a typed array).
 * @typedef {DataView|ArrayBuffer|ArrayBufferView|null|undefined} Bytes
 */

export { STATE };

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * @param {Bytes} bytes
 * @returns {DataView}
 */
function viewOf(bytes) {
  if (!bytes) return new DataView(new ArrayBuffer(0));
  return ArrayBuffer.isView(bytes) ? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new DataView(bytes);
}

/**
 * A copy of the first `n` bytes of `view` (aligned, whatever the alignment of `view`).
 * @param {DataView} view
 * @param {number} n
 */
const copyOf = (view, n) => view.buffer.slice(view.byteOffset, view.byteOffset + n);

/**
 * Float32 values copied out of a bytes trait: little-endian on the wire, whatever the alignment.
 * @param {Bytes} bytes
 * @returns {Float32Array}
 */
export function float32From(bytes) {
  const view = viewOf(bytes);
  const length = Math.floor(view.byteLength / 4);
  if (LITTLE_ENDIAN) return new Float32Array(copyOf(view, length * 4));
  return Float32Array.from({ length }, (_, i) => view.getFloat32(i * 4, true));
}

/**
 * Int32 values copied out of a bytes trait: little-endian on the wire, whatever the alignment.
 * @param {Bytes} bytes
 * @returns {Int32Array}
 */
export function int32From(bytes) {
  const view = viewOf(bytes);
  const length = Math.floor(view.byteLength / 4);
  if (LITTLE_ENDIAN) return new Int32Array(copyOf(view, length * 4));
  return Int32Array.from({ length }, (_, i) => view.getInt32(i * 4, true));
}

/**
 * Bytes of a bytes trait, copied.
 * @param {Bytes} bytes
 * @returns {Uint8Array}
 */
export function uint8From(bytes) {
  const view = viewOf(bytes);
  return new Uint8Array(copyOf(view, view.byteLength));
}

/**
 * @typedef {object} WatchData
 * @property {Partial<WatchTimeline>} timeline   as sent (`{}`: nothing recorded)
 * @property {string[]} names
 * @property {string[]} modules
 * @property {(string|null)[]} nodes      graph node id of each column
 * @property {boolean[]} frozen           requires_grad False (from the first backward's graph)
 * @property {(boolean|null)[]} moves     did the optimizer change it at a measured step (null: unknown)
 * @property {number} vanish              a finite norm below this is "vanishing"
 * @property {number} params              columns
 * @property {number} rows                recorded rows (complete in every array)
 * @property {Int32Array} steps
 * @property {Float32Array} grad          [rows, params]
 * @property {Float32Array} weight        [rows, params]
 * @property {Float32Array} ratio         [rows, params]
 * @property {Uint8Array} state           [rows, params]
 * @property {Float32Array|null} headroom [rows, params] precision headroom in bits (NaN: none); null: not sent
 * @property {ReturnType<typeof moduleTree>} tree   columns grouped by module (rows.js)
 * @property {number[]} order             display row -> column (grouped by module)
 * @property {FirstNonfinite|null} firstNonfinite
 *
 * @typedef {{step: number, name: string, row: number, column: number}} FirstNonfinite
 *   where the run's first NaN/Inf gradient is drawn (column -1: not a watched name)
 *
 * @typedef {{min: number, max: number}} LogRange   a log10 range of gradient norms
 */

/**
 * @param {WatchSource} model
 * @returns {WatchData}
 */
export function readWatch(model) {
  /** @type {Partial<WatchTimeline>} */
  const timeline = model.get("timeline") ?? {};
  const names = (timeline.names ?? []).map(String);
  const params = names.length;
  const modules = names.map((n, i) => String(timeline.modules?.[i] ?? moduleOf(n)));
  const nodes = names.map((_, i) => timeline.nodes?.[i] ?? null);
  const frozen = names.map((_, i) => timeline.frozen?.[i] === true);
  const moves = names.map((_, i) => {
    const moved = timeline.moves?.[i];
    return typeof moved === "boolean" ? moved : null;
  });
  const vanish = Number(timeline.vanish ?? 1e-7);
  const steps = int32From(model.get("steps"));
  const grad = float32From(model.get("grad_norm"));
  const weight = float32From(model.get("param_norm"));
  const ratio = float32From(model.get("update_ratio"));
  const state = uint8From(model.get("state"));
  const bits = float32From(model.get("headroom"));
  // Rows every array holds in full: a half-synced update never reads past an array's end.
  let rows = Math.min(Number(timeline.rows ?? steps.length), steps.length);
  if (params) rows = Math.min(rows, Math.floor(grad.length / params), Math.floor(state.length / params));
  if (params) rows = Math.min(rows, Math.floor(ratio.length / params), Math.floor(weight.length / params));
  rows = Math.max(0, rows);
  // the headroom series is optional: drawn only when it covers every row (else not yet synced)
  const headroom = bits.length && bits.length >= rows * params ? bits : null;
  const tree = moduleTree(modules);
  const data = { timeline, names, modules, nodes, frozen, moves, vanish, params, rows, steps, grad, weight, ratio, state, headroom, tree, order: tree.order };
  return { ...data, firstNonfinite: locateFirstNonfinite(data, timeline.first_nonfinite) };
}

/**
 * Module path of a parameter name (as Python's module_of): all but the last dotted part.
 * @param {string} name
 */
export const moduleOf = (name) => (name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : "");

/**
 * Where `first_nonfinite` sits: the first row at or after its step (it may have been downsampled away).
 * @param {Pick<WatchData, "rows"|"steps"|"names">} data
 * @param {{step: number, name: string}|null|undefined} first
 * @returns {FirstNonfinite|null}
 */
function locateFirstNonfinite(data, first) {
  if (!first || !data.rows) return null;
  const row = rowAtOrAfter(data, first.step);
  if (row === null) return null;
  return { step: first.step, name: String(first.name), row, column: data.names.indexOf(String(first.name)) };
}

/**
 * The first row whose step is >= `step`, or null when every row is earlier.
 * @param {Pick<WatchData, "rows"|"steps">} data
 * @param {number} step
 * @returns {number|null}
 */
export function rowAtOrAfter(data, step) {
  let lo = 0;
  let hi = data.rows;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (data.steps[mid] < step) lo = mid + 1;
    else hi = mid;
  }
  return lo < data.rows ? lo : null;
}

/**
 * The row whose step is closest to `step` (ties: the earlier row); null when there is no row.
 * @param {Pick<WatchData, "rows"|"steps">} data
 * @param {number} step
 * @returns {number|null}
 */
export function nearestRow(data, step) {
  if (!data.rows) return null;
  const after = rowAtOrAfter(data, step) ?? data.rows - 1;
  if (after > 0 && step - data.steps[after - 1] <= data.steps[after] - step) return after - 1;
  return after;
}

/**
 * log10 range of the finite, non-zero gradient norms in rows [from, rows), merged into `prev`.
 * @param {LogRange|null} prev
 * @param {WatchData} data
 * @returns {LogRange|null}
 */
export function extendRange(prev, data, from = 0) {
  let min = prev ? prev.min : Infinity;
  let max = prev ? prev.max : -Infinity;
  const { grad, state, params } = data;
  for (let i = from * params; i < data.rows * params; i++) {
    if (state[i] !== STATE.finite || !(grad[i] > 0) || grad[i] === Infinity) continue;
    const v = Math.log10(grad[i]);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min <= max ? { min, max } : null;
}

/**
 * The colour range drawn: whole decades around `range`, at least one decade wide.
 * @param {LogRange|null} range
 * @returns {LogRange|null}
 */
export function niceRange(range) {
  if (!range) return null;
  const min = Math.floor(range.min);
  return { min, max: Math.max(min + 1, Math.ceil(range.max)) };
}

/**
 * True when `next` only appends rows to `prev`: same columns, and `prev`'s rows are unchanged
 * (a downsampled history, whose rows were thinned out, is not an append).
 * @param {WatchData|null} prev
 * @param {WatchData} next
 */
export function appendsTo(prev, next) {
  if (!prev || prev.params !== next.params || next.rows < prev.rows) return false;
  if (prev.names.some((n, i) => n !== next.names[i])) return false;
  for (let r = 0; r < prev.rows; r++) if (prev.steps[r] !== next.steps[r]) return false;
  return true;
}

/**
 * Value of column `c` at `row` in one of the [rows, params] arrays.
 * @param {WatchData} data
 * @param {"grad"|"weight"|"ratio"|"state"} array
 * @param {number} row
 * @param {number} c
 * @returns {number}
 */
export const at = (data, array, row, c) => data[array][row * data.params + c];
