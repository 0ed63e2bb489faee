// The heatmap's cells as one grid: a column per parameter (display order) then one per module
// band (rows.js), rows = recorded steps. A band's cell is the worst state among its parameters
// (NaN/Inf, then zero, then a missing gradient; a frozen parameter's None does not count), else the
// geometric mean of their finite norms. Bands are computed bottom-up from their sub-bands, so a
// row costs one pass over the parameters, and only new rows are computed when rows are appended.
import { lookup } from "../lookup.js";
import { STATE } from "./states.js";

const RANK_OF = new Uint8Array([1, 2, 0, 3]); // by state: none, zero, finite, nonfinite
const STATE_OF = [STATE.finite, STATE.none, STATE.zero, STATE.nonfinite]; // by rank

/**
 * @typedef {object} Grid
 * @property {number} width      parameters + bands
 * @property {number} rows
 * @property {number} capacity   rows the arrays hold
 * @property {Uint8Array} state  [capacity, width]
 * @property {Float32Array} grad [capacity, width]
 * @property {number[]} sources  image row -> grid column: parameters in display order, then bands
 * @property {string} key        the columns it was built for
 */

/**
 * The grid of `data`, reusing `prev` when it holds the same columns and `from` rows of it are still valid.
 * @param {import("./data.js").WatchData} data
 * @param {Grid|null} prev
 * @param {number} from   rows of `prev` that are unchanged (0: compute every row)
 * @returns {Grid}
 */
export function cellGrid(data, prev, from) {
  const { tree, params } = data;
  const bands = tree.bands;
  const width = params + bands.length;
  const key = `${data.names.join("\u0000")}\u0001${data.frozen.join()}`;
  let grid = prev && prev.key === key ? prev : null;
  if (!grid || data.rows > grid.capacity) {
    const capacity = Math.max(64, data.rows, 2 * (grid?.capacity ?? 0));
    const sources = [...tree.order, ...bands.map((_, b) => params + b)];
    /** @type {Grid} */
    const next = { width, rows: 0, capacity, key, state: new Uint8Array(capacity * width), grad: new Float32Array(capacity * width), sources };
    if (grid) {
      next.state.set(grid.state.subarray(0, grid.rows * width));
      next.grad.set(grid.grad.subarray(0, grid.rows * width));
      next.rows = grid.rows;
    }
    grid = next;
  }
  const start = Math.min(from, grid.rows); // `grid` is `prev` or holds its rows
  fill(grid, data, planOf(tree, params), start);
  grid.rows = data.rows;
  return grid;
}

/**
 * A band's grid column, its own parameter columns and its sub-bands' grid columns.
 * @typedef {{column: number, columns: number[], sub: number[]}} BandPlan
 */

/**
 * Bands bottom-up: each with its own parameter columns and its sub-bands (grid columns).
 * @param {import("./rows.js").ModuleTree} tree
 * @param {number} params
 * @returns {BandPlan[]}
 */
function planOf(tree, params) {
  const index = new Map(tree.bands.map((b, i) => [b, i]));
  /** @type {BandPlan[]} */
  const plan = [];
  /** @param {import("./rows.js").ModuleNode} n */
  const visit = (n) => {
    const columns = [...n.own];
    /** @type {number[]} */
    const sub = [];
    for (const child of n.children) {
      if (child.band) sub.push(params + lookup(index, child));
      else columns.push(...child.columns);
      if (child.band || child.children.length) visit(child);
    }
    if (n.band) plan.push({ column: params + lookup(index, n), columns, sub });
  };
  visit(tree.root);
  return plan;
}

/**
 * @param {Grid} grid
 * @param {import("./data.js").WatchData} data
 * @param {BandPlan[]} plan
 * @param {number} from  first row to compute
 */
function fill(grid, data, plan, from) {
  const { params, frozen } = data;
  const w = grid.width;
  const rank = new Uint8Array(w); // per band, this row: worst rank (0 finite .. 3 nonfinite), 255: no parameter counted
  const count = new Uint32Array(w);
  const logs = new Float64Array(w);
  for (let row = from; row < data.rows; row++) {
    const src = row * params;
    const dst = row * w;
    grid.state.set(data.state.subarray(src, src + params), dst);
    grid.grad.set(data.grad.subarray(src, src + params), dst);
    for (const band of plan) {
      let worst = 255;
      let n = 0;
      let sum = 0;
      for (const c of band.columns) {
        const state = data.state[src + c];
        if (state === STATE.none && frozen[c]) continue;
        const r = RANK_OF[state];
        if (worst === 255 || r > worst) worst = r;
        if (state === STATE.finite && data.grad[src + c] > 0) {
          n++;
          sum += Math.log10(data.grad[src + c]);
        }
      }
      for (const b of band.sub) {
        if (rank[b] === 255) continue;
        if (worst === 255 || rank[b] > worst) worst = rank[b];
        n += count[b];
        sum += logs[b];
      }
      rank[band.column] = worst;
      count[band.column] = n;
      logs[band.column] = sum;
      grid.state[dst + band.column] = worst === 255 ? STATE.none : STATE_OF[worst];
      grid.grad[dst + band.column] = worst === 0 && n ? 10 ** (sum / n) : worst === 2 ? 0 : NaN;
    }
  }
}
