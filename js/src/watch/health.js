// What each recorded cell says about learning, and the counts the title and inspector show.
// The same rules as gradviz/view/_watch_summary.py (Python's text views): a parameter learns at
// a step only when its gradient is finite, not below `vanish`, and the optimizer was not seen
// leaving its weights unchanged; "all learn" only when every parameter does; frozen apart.
import { STATE } from "./states.js";

/** Health kinds, ordered from healthy to worst (the order a run's worst is taken in). */
export const HEALTH = Object.freeze(["learn", "vanishing", "unchanged", "frozen", "none", "zero", "nonfinite"]);

/** The order counts are written in: learning first, then problems (worst first), frozen last. */
const TEXT_ORDER = ["learn", "nonfinite", "zero", "none", "unchanged", "vanishing", "frozen"];

const PHRASE = {
  learn: "learn",
  vanishing: "vanishing",
  unchanged: "unchanged by the optimizer",
  frozen: "frozen",
  none: "without a gradient",
  zero: "with zero gradients",
  nonfinite: "with NaN/Inf gradients",
};

/** Short labels (badges, legend). */
export const HEALTH_LABEL = Object.freeze({
  learn: "learns",
  vanishing: "vanishing",
  unchanged: "unchanged",
  frozen: "frozen",
  none: "no gradient",
  zero: "zero gradient",
  nonfinite: "NaN/Inf",
});

/** Index into HEALTH of one cell (the loops below call this per cell: keep it cheap). */
function code(state, grad, frozen, moved, vanish) {
  if (state === STATE.nonfinite) return 6;
  if (state === STATE.zero) return 5;
  if (state === STATE.none) return frozen ? 3 : 4;
  if (grad < vanish) return 1;
  return moved === false ? 2 : 0;
}

/**
 * Health of column `c` at `row`.
 * @param {import("./data.js").WatchData} data
 * @returns {string} one of HEALTH
 */
export function healthAt(data, row, c) {
  const i = row * data.params + c;
  return HEALTH[code(data.state[i], data.grad[i], data.frozen[c], data.moves[c], data.vanish)];
}

/** {kind: count} of the columns (default: all) at `row`. */
export function stepCounts(data, row, columns = null) {
  const tally = new Uint32Array(HEALTH.length);
  const n = columns ? columns.length : data.params;
  const base = row * data.params;
  for (let k = 0; k < n; k++) {
    const c = columns ? columns[k] : k;
    tally[code(data.state[base + c], data.grad[base + c], data.frozen[c], data.moves[c], data.vanish)]++;
  }
  return Object.fromEntries(HEALTH.map((kind, i) => [kind, tally[i]]).filter(([, count]) => count));
}

/** "3 learn", "1 learns", "2 with zero gradients", "1 vanishing (norm < 1e-7)". */
export function phrase(kind, n, vanish) {
  const text = kind === "vanishing" ? `vanishing (norm < ${vanish})` : PHRASE[kind];
  return `${n} ${text}${kind === "learn" && n === 1 ? "s" : ""}`;
}

/** "27 learn, 1 frozen"; "all 28 learn" only when every parameter learns. */
export function countsText(counts, vanish) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (total && counts.learn === total) return total > 1 ? `all ${total} learn` : "it learns";
  return TEXT_ORDER.filter((k) => counts[k]).map((k) => phrase(k, counts[k], vanish)).join(", ") || "no parameter";
}

/**
 * The worst health each column reached over the run, and the first row it reached it.
 * @returns {{kind: string, row: number}[]}
 */
export function worstOverRun(data) {
  const { params, state, grad, frozen, moves, vanish } = data;
  const worst = new Uint8Array(params);
  const first = new Int32Array(params).fill(-1);
  for (let row = 0, i = 0; row < data.rows; row++) {
    for (let c = 0; c < params; c++, i++) {
      const k = code(state[i], grad[i], frozen[c], moves[c], vanish);
      if (k > worst[c]) {
        worst[c] = k;
        first[c] = row;
      }
    }
  }
  return Array.from(worst, (k, c) => ({ kind: HEALTH[k], row: first[c] }));
}

/** The whole run in one line, as Python's run_text: each column counted by the worst it reached. */
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
    else if (kind !== "frozen") text += ` (first at step ${data.steps[Math.min(...hits.map((w) => w.row))]})`;
    parts.push(text);
  }
  return over + parts.join(", ");
}

/** One sentence on a cell: what the step recorded for this parameter, in words. */
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
