// What each recorded cell says about learning, and the counts the title and inspector show.
// The same rules as gradviz/view/_watch_summary.py (Python's text views): a parameter learns at
// a step only when its gradient is finite, not below `vanish`, and the optimizer was not seen
// leaving its weights unchanged; "all learn" only when every parameter does; frozen apart.
import { STATE } from "./states.js";

/** @typedef {import("./data.js").WatchData} WatchData */
/** @typedef {"learn"|"vanishing"|"unchanged"|"frozen"|"none"|"zero"|"nonfinite"} Health */
/** @typedef {Partial<Record<Health, number>>} HealthCounts   only the kinds present */

/**
 * Health kinds, ordered from healthy to worst (the order a run's worst is taken in).
 * @type {readonly Health[]}
 */
export const HEALTH = Object.freeze(["learn", "vanishing", "unchanged", "frozen", "none", "zero", "nonfinite"]);

/**
 * The order counts are written in: learning first, then problems (worst first), frozen last.
 * @type {readonly Health[]}
 */
const TEXT_ORDER = ["learn", "nonfinite", "zero", "none", "unchanged", "vanishing", "frozen"];

/** @type {Record<Health, string>} */
const PHRASE = {
  learn: "learn",
  vanishing: "vanishing",
  unchanged: "unchanged by the optimizer",
  frozen: "frozen",
  none: "without a gradient",
  zero: "with zero gradients",
  nonfinite: "with NaN/Inf gradients",
};

/**
 * Short labels (badges, legend).
 * @type {Readonly<Record<Health, string>>}
 */
export const HEALTH_LABEL = Object.freeze({
  learn: "learns",
  vanishing: "vanishing",
  unchanged: "unchanged",
  frozen: "frozen",
  none: "no gradient",
  zero: "zero gradient",
  nonfinite: "NaN/Inf",
});

/**
 * Index into HEALTH of one cell (the loops below call this per cell: keep it cheap).
 * @param {number} state   a STATE code
 * @param {number} grad    the float32 norm
 * @param {boolean} frozen
 * @param {boolean|null} moved
 * @param {number} limit   the vanishing threshold as a float32 (limitOf)
 */
function code(state, grad, frozen, moved, limit) {
  if (state === STATE.nonfinite) return 6;
  if (state === STATE.zero) return 5;
  if (state === STATE.none) return frozen ? 3 : 4;
  if (grad < limit) return 1;
  return moved === false ? 2 : 0;
}

/**
 * The vanishing threshold the norms are compared with: `vanish` rounded to float32, as Python
 * compares (numpy casts the Python float to the float32 array's dtype), so that a norm recorded as
 * exactly float32(vanish) is not vanishing on one side and vanishing on the other.
 * @param {Pick<WatchData, "vanish">} data
 */
export const limitOf = (data) => Math.fround(data.vanish);

/**
 * Health of column `c` at `row`.
 * @param {WatchData} data
 * @param {number} row
 * @param {number} c
 * @returns {Health}
 */
export function healthAt(data, row, c) {
  const i = row * data.params + c;
  return HEALTH[code(data.state[i], data.grad[i], data.frozen[c], data.moves[c], limitOf(data))];
}

/**
 * {kind: count} of the columns (default: all) at `row`; kinds with no column are left out.
 * @param {WatchData} data
 * @param {number} row
 * @param {number[]|null} [columns]
 * @returns {HealthCounts}
 */
export function stepCounts(data, row, columns = null) {
  const tally = new Uint32Array(HEALTH.length);
  const n = columns ? columns.length : data.params;
  const base = row * data.params;
  const limit = limitOf(data);
  for (let k = 0; k < n; k++) {
    const c = columns ? columns[k] : k;
    tally[code(data.state[base + c], data.grad[base + c], data.frozen[c], data.moves[c], limit)]++;
  }
  /** @type {HealthCounts} */
  const counts = {};
  HEALTH.forEach((kind, i) => {
    if (tally[i]) counts[kind] = tally[i];
  });
  return counts;
}

/**
 * "3 learn", "1 learns", "2 with zero gradients", "1 vanishing (norm < 1e-7)".
 * @param {Health} kind
 * @param {number} n
 * @param {number} vanish
 */
export function phrase(kind, n, vanish) {
  const text = kind === "vanishing" ? `vanishing (norm < ${vanish})` : PHRASE[kind];
  return `${n} ${text}${kind === "learn" && n === 1 ? "s" : ""}`;
}

/**
 * "27 learn, 1 frozen"; "all 28 learn" only when every parameter learns.
 * @param {HealthCounts} counts
 * @param {number} vanish
 */
export function countsText(counts, vanish) {
  const total = HEALTH.reduce((sum, k) => sum + (counts[k] ?? 0), 0);
  if (total && counts.learn === total) return total > 1 ? `all ${total} learn` : "it learns";
  return (
    TEXT_ORDER.flatMap((k) => {
      const n = counts[k];
      return n ? [phrase(k, n, vanish)] : [];
    }).join(", ") || "no parameter"
  );
}

/**
 * The worst health each column reached over the run, and the first row it reached it (-1: learns
 * at every row).
 * @param {WatchData} data
 * @returns {{kind: Health, row: number}[]}
 */
export function worstOverRun(data) {
  const { params, state, grad, frozen, moves } = data;
  const limit = limitOf(data);
  const worst = new Uint8Array(params);
  const first = new Int32Array(params).fill(-1);
  for (let row = 0, i = 0; row < data.rows; row++) {
    for (let c = 0; c < params; c++, i++) {
      const k = code(state[i], grad[i], frozen[c], moves[c], limit);
      if (k > worst[c]) {
        worst[c] = k;
        first[c] = row;
      }
    }
  }
  return Array.from(worst, (k, c) => ({ kind: HEALTH[k], row: first[c] }));
}

/**
 * For each health kind and column: the first row it was in that kind (-1: never) and how many rows.
 * Indexed `[HEALTH.indexOf(kind) * params + column]`; frozen columns count as "frozen", never "none".
 * @param {WatchData} data
 * @returns {{first: Int32Array, rows: Uint32Array}}
 */
export function kindRows(data) {
  const { params, state, grad, frozen, moves } = data;
  const limit = limitOf(data);
  const first = new Int32Array(HEALTH.length * params).fill(-1);
  const rows = new Uint32Array(HEALTH.length * params);
  for (let row = 0, i = 0; row < data.rows; row++) {
    for (let c = 0; c < params; c++, i++) {
      const k = code(state[i], grad[i], frozen[c], moves[c], limit) * params + c;
      if (first[k] < 0) first[k] = row;
      rows[k]++;
    }
  }
  return { first, rows };
}

/**
 * The whole run in one line, as Python's run_text: each column counted by the worst it reached.
 * @param {WatchData} data
 */
export function runText(data, worst = worstOverRun(data)) {
  if (!data.rows) return "no step recorded yet";
  const over = `over ${data.rows} recorded step${data.rows === 1 ? "" : "s"}: `;
  if (worst.every((w) => w.kind === "learn")) return over + (data.params > 1 ? `all ${data.params} learn` : "it learns") + " at every step";
  const parts = [];
  for (const kind of TEXT_ORDER) {
    const hits = worst.filter((w) => w.kind === kind);
    if (!hits.length) continue;
    let text = phrase(kind, hits.length, data.vanish);
    if (kind === "learn") text += " at every step";
    else if (kind !== "frozen") text += `, first at step ${data.steps[Math.min(...hits.map((w) => w.row))]}`;
    parts.push(text);
  }
  return over + parts.join("; ");
}

/**
 * One sentence on a cell: what the step recorded for this parameter, in words.
 * @param {Health} kind
 * @param {WatchData} data
 * @param {number} row
 */
export function healthSentence(kind, data, row) {
  const vanish = data.vanish;
  switch (kind) {
    case "learn":
      return "A finite, non-zero gradient: it learns at this step.";
    case "vanishing":
      return `Its gradient norm is below ${vanish}: too small to move the weights much (vanishing).`;
    case "unchanged":
      return "It gets a finite gradient, but at every step where the update was measured its weights did not change: the optimizer does not hold it (update ratio NaN), or the update was zero.";
    case "frozen":
      return "requires_grad is False: autograd computes no gradient for it.";
    case "none":
      return ".grad was None at this step: no gradient reached it.";
    case "zero":
      return "The gradient is exactly zero everywhere (a dead ReLU, a mask, round/sign/floor).";
    case "nonfinite": {
      const first = data.firstNonfinite;
      const when = first ? ` The run's first NaN/Inf gradient was at step ${first.step}, in ${first.name}.` : "";
      return `The gradient holds NaN or Inf at step ${data.steps[row]}.${when}`;
    }
    default:
      return "";
  }
}
