// Decoding of the watch traits (js/STATE.md, "Watch widget state"; Python side:
// gradviz/view/_watch_state.py) into typed arrays, plus what every panel derives from them:
// the module tree of the rows, the colour range and step lookups. Pure functions.
import { moduleTree } from "./rows.js";
import { STATE } from "./states.js";

/**
 * Synced traits of `MonitorWidget` (gradviz/view/_watch_widget.py; contract: js/STATE.md, "Watch
 * widget state"). The graph traits are those of `WidgetTraits` (../types.js), `{}` until captured.
 * @typedef {object} WatchTraits
 * @property {WatchTimeline} timeline  py -> js
 * @property {DataView} steps          py -> js: int32 LE, one per row
 * @property {DataView} grad_norm      py -> js: float32 LE [rows, params], NaN = no value
 * @property {DataView} param_norm     py -> js: float32 LE [rows, params]
 * @property {DataView} update_ratio   py -> js: float32 LE [rows, params]
 * @property {DataView} state          py -> js: uint8 [rows, params], see STATE
 * @property {number} step             js <-> py: selected row, -1 = the latest
 * @property {string} selected         js -> py: the clicked parameter's name ("" = none)
 *
 * @typedef {object} WatchTimeline
 * @property {number} version
 * @property {string[]} names
 * @property {string[]} modules
 * @property {(string|null)[]} nodes
 * @property {boolean[]} [frozen]
 * @property {(boolean|null)[]} [moves]
 * @property {number} rows
 * @property {number} every
 * @property {number} stride
 * @property {{step: number, name: string}|null} first_nonfinite
 * @property {number} vanish
 * @property {number} explode
 * @property {boolean} live
 */

export { STATE };

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A typed array copied out of a bytes trait (anywidget: DataView; the page: DataView; tests:
 * ArrayBuffer or a typed array). Little-endian on the wire, whatever the alignment.
 * @template {Float32ArrayConstructor|Int32ArrayConstructor|Uint8ArrayConstructor} T
 * @param {DataView|ArrayBuffer|ArrayBufferView|null|undefined} bytes
 * @param {T} Type
 * @returns {InstanceType<T>}
 */
export function typedFrom(bytes, Type) {
  if (!bytes) return new Type(0);
  const buffer = ArrayBuffer.isView(bytes) ? bytes.buffer : bytes;
  const offset = ArrayBuffer.isView(bytes) ? bytes.byteOffset : 0;
  const length = Math.floor((ArrayBuffer.isView(bytes) ? bytes.byteLength : bytes.byteLength) / Type.BYTES_PER_ELEMENT);
  const size = Type.BYTES_PER_ELEMENT;
  if (LITTLE_ENDIAN || size === 1) return new Type(buffer.slice(offset, offset + length * size));
  const view = new DataView(buffer, offset, length * size);
  const read = Type === Float32Array ? (i) => view.getFloat32(i * 4, true) : (i) => view.getInt32(i * 4, true);
  return Type.from({ length }, (_, i) => read(i));
}

/**
 * @typedef {object} WatchData
 * @property {Record<string, any>} timeline
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
 * @property {ReturnType<typeof moduleTree>} tree   columns grouped by module (rows.js)
 * @property {number[]} order             display row -> column (grouped by module)
 * @property {{step: number, name: string, row: number, column: number}|null} firstNonfinite
 */

/**
 * @param {{get: (key: string) => any}} model
 * @returns {WatchData}
 */
export function readWatch(model) {
  const timeline = model.get("timeline") ?? {};
  const names = (timeline.names ?? []).map(String);
  const params = names.length;
  const modules = names.map((n, i) => String(timeline.modules?.[i] ?? moduleOf(n)));
  const nodes = names.map((_, i) => timeline.nodes?.[i] ?? null);
  const frozen = names.map((_, i) => timeline.frozen?.[i] === true);
  const moves = names.map((_, i) => (typeof timeline.moves?.[i] === "boolean" ? timeline.moves[i] : null));
  const vanish = Number(timeline.vanish ?? 1e-7);
  const steps = typedFrom(model.get("steps"), Int32Array);
  const grad = typedFrom(model.get("grad_norm"), Float32Array);
  const weight = typedFrom(model.get("param_norm"), Float32Array);
  const ratio = typedFrom(model.get("update_ratio"), Float32Array);
  const state = typedFrom(model.get("state"), Uint8Array);
  // Rows every array holds in full: a half-synced update never reads past an array's end.
  let rows = Math.min(Number(timeline.rows ?? steps.length), steps.length);
  if (params) rows = Math.min(rows, Math.floor(grad.length / params), Math.floor(state.length / params));
  if (params) rows = Math.min(rows, Math.floor(ratio.length / params), Math.floor(weight.length / params));
  rows = Math.max(0, rows);
  const tree = moduleTree(modules);
  const data = { timeline, names, modules, nodes, frozen, moves, vanish, params, rows, steps, grad, weight, ratio, state, tree, order: tree.order };
  return { ...data, firstNonfinite: locateFirstNonfinite(data, timeline.first_nonfinite) };
}

/** Module path of a parameter name (as Python's module_of): all but the last dotted part. */
export const moduleOf = (name) => (name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : "");

/** Where `first_nonfinite` sits: the first row at or after its step (it may have been downsampled away). */
function locateFirstNonfinite(data, first) {
  if (!first || !data.rows) return null;
  const row = rowAtOrAfter(data, first.step);
  if (row === null) return null;
  return { step: first.step, name: String(first.name), row, column: data.names.indexOf(String(first.name)) };
}

/** The first row whose step is >= `step`, or null when every row is earlier. */
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

/** The row whose step is closest to `step` (ties: the earlier row); null when there is no row. */
export function nearestRow(data, step) {
  if (!data.rows) return null;
  const after = rowAtOrAfter(data, step) ?? data.rows - 1;
  if (after > 0 && step - data.steps[after - 1] <= data.steps[after] - step) return after - 1;
  return after;
}

/**
 * log10 range of the finite, non-zero gradient norms in rows [from, rows), merged into `prev`.
 * @returns {{min: number, max: number}|null}
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

/** The colour range drawn: whole decades around `range`, at least one decade wide. */
export function niceRange(range) {
  if (!range) return null;
  const min = Math.floor(range.min);
  return { min, max: Math.max(min + 1, Math.ceil(range.max)) };
}

/**
 * True when `next` only appends rows to `prev`: same columns, and `prev`'s rows are unchanged
 * (a downsampled history, whose rows were thinned out, is not an append).
 */
export function appendsTo(prev, next) {
  if (!prev || prev.params !== next.params || next.rows < prev.rows) return false;
  if (prev.names.some((n, i) => n !== next.names[i])) return false;
  for (let r = 0; r < prev.rows; r++) if (prev.steps[r] !== next.steps[r]) return false;
  return true;
}

/** Value of column `c` at `row` in one of the [rows, params] arrays. */
export const at = (data, array, row, c) => data[array][row * data.params + c];
