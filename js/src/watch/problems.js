// The watch view's banner: one line per kind of problem the run recorded, saying what happened
// to which parameters and when: "At step 60, all 148 parameters went NaN/Inf at once" is not
// "wte.weight went NaN/Inf first, at step 60; 147 others followed at step 61". Each line carries
// the parameters (first affected first) and the row that "Show it" moves to. Pure functions over
// WatchData; the kinds and thresholds are health.js's and flags.js's, so the banner, the title and
// the charts' marks always agree. Python writes the same lines for the text views
// (gradviz/view/_watch_problems.py; tests/view/test_watch_problems.py checks they match).
import { explosions } from "./flags.js";
import { HEALTH, kindRows } from "./health.js";
import { measuredRows } from "./ratio-note.js";

/** @typedef {import("./data.js").WatchData} WatchData */
/** @typedef {"nonfinite"|"explode"|"zero"|"never"|"none"|"unchanged"|"vanishing"} FoundKind  the kinds this file finds */
/**
 * A banner line's kind: one this file finds, or "headroom" (a parameter heading for overflow:
 * Python's line, timeline.headroom, read by headroom.js).
 * @typedef {FoundKind|"headroom"} ProblemKind
 */
/**
 * @typedef {object} Problem
 * @property {ProblemKind} kind
 * @property {string} title      what kind of problem, in a few words
 * @property {string} text       what happened, in one or two sentences
 * @property {number[]} columns  the parameters it happened to, first affected first
 * @property {number} row        the row to show: where it first happened
 */

/** Banner lines, worst first. @type {readonly FoundKind[]} */
export const PROBLEM_KINDS = Object.freeze(["nonfinite", "explode", "zero", "never", "none", "unchanged", "vanishing"]);

/** Names listed in a sentence: all up to LISTED + 2, else LISTED and "and N more". */
const LISTED = 3;

/**
 * What a kind's parameters did: `past` when it started after the first recorded step, `now` when
 * they were already so at the first one; [one parameter, several].
 * @type {Record<"nonfinite"|"explode"|"zero"|"none"|"vanishing", {past: [string, string], now: [string, string]}>}
 */
const VERBS = {
  nonfinite: { past: ["went NaN/Inf", "went NaN/Inf"], now: ["already has a NaN/Inf gradient", "already have NaN/Inf gradients"] },
  explode: { past: ["exploded", "exploded"], now: ["already explodes", "already explode"] },
  zero: { past: ["got an exactly zero gradient", "got exactly zero gradients"], now: ["already gets an exactly zero gradient", "already get exactly zero gradients"] },
  none: { past: ["lost its gradient (.grad None)", "lost their gradients (.grad None)"], now: ["gets no gradient (.grad None)", "get no gradient (.grad None)"] },
  vanishing: { past: ["vanished", "vanished"], now: ["already vanishes", "already vanish"] },
};

/**
 * The banner lines of the run, worst first; none when every parameter learns at every step.
 * @param {WatchData} data
 * @param {{vanish: number, explode: number}} thresholds
 * @param {{first: Int32Array}} [booms]  explosions(data, explode), when the caller keeps them up to date
 * @returns {Problem[]}
 */
export function problems(data, { vanish, explode }, booms = explosions(data, explode)) {
  if (!data.rows || !data.params) return [];
  const { first, rows } = kindRows(data);
  const kind = (/** @type {import("./health.js").Health} */ k) => HEALTH.indexOf(k) * data.params;
  const columns = Array.from({ length: data.params }, (_, c) => c);
  const unfrozen = columns.filter((c) => !data.frozen[c]);
  const noun = unfrozen.length < data.params ? "unfrozen parameters" : "parameters";
  const ctx = { data, total: unfrozen.length, noun };
  /** @type {Record<"nonfinite"|"zero"|"none"|"vanishing", string>} */
  const titles = { nonfinite: "NaN/Inf gradients", zero: "Zero gradients", none: "Missing gradients", vanishing: `Vanishing gradients (norm < ${vanish})` };
  /** @type {Problem[]} */
  const out = [];
  /**
   * @param {ProblemKind} k
   * @param {string} title
   * @param {number[]} hit
   * @param {(c: number) => number} firstRow
   * @param {string} text
   */
  const add = (k, title, hit, firstRow, text) => {
    const ordered = sortByRow(hit, firstRow);
    out.push({ kind: k, title, text, columns: ordered, row: firstRow(ordered[0]) });
  };
  for (const k of PROBLEM_KINDS) {
    if (k === "explode") {
      const hit = columns.filter((c) => booms.first[c] >= 0);
      const at = (/** @type {number} */ c) => booms.first[c];
      if (hit.length) add(k, `Exploding gradients (a norm above ${explode}× its running median)`, hit, at, onset(ctx, hit, at, VERBS.explode));
      continue;
    }
    if (k === "never") {
      const hit = unfrozen.filter((c) => rows[kind("none") + c] === data.rows);
      if (hit.length) add(k, "No gradient ever", hit, () => 0, never(ctx, hit));
      continue;
    }
    if (k === "unchanged") {
      const hit = columns.filter((c) => first[kind("unchanged") + c] >= 0);
      const at = (/** @type {number} */ c) => first[kind("unchanged") + c];
      if (hit.length) add(k, "Not updated by the optimizer", hit, at, unchanged(ctx, hit));
      continue;
    }
    const base = kind(k);
    const at = (/** @type {number} */ c) => first[base + c];
    // "none": only the parameters that had a gradient at some step ("never" has the others)
    const hit = columns.filter((c) => first[base + c] >= 0 && !(k === "none" && rows[base + c] === data.rows));
    if (!hit.length) continue;
    let text = onset(ctx, hit, at, VERBS[k]);
    if (k === "nonfinite") text += lostFirst(data, hit, at);
    add(k, titles[k], hit, at, text);
  }
  return out;
}

/**
 * @typedef {object} Context
 * @property {WatchData} data
 * @property {number} total   parameters that can get a gradient (not frozen)
 * @property {string} noun    "parameters", or "unfrozen parameters" when some are frozen
 */

/**
 * `columns` ordered by the row where each was first affected, then in model order (as Python's
 * problem_lines orders them).
 * @param {number[]} columns
 * @param {(c: number) => number} firstRow
 */
function sortByRow(columns, firstRow) {
  return [...columns].sort((a, b) => firstRow(a) - firstRow(b) || a - b);
}

/**
 * When it happened and to whom: all at once, or one first and the others after it.
 * @param {Context} ctx
 * @param {number[]} hit
 * @param {(c: number) => number} firstRow
 * @param {{past: [string, string], now: [string, string]}} verb
 */
export function onset({ data, total, noun }, hit, firstRow, verb) {
  const columns = sortByRow(hit, firstRow);
  /** @type {{row: number, columns: number[]}[]} */
  const groups = [];
  for (const c of columns) {
    const row = firstRow(c);
    const last = groups[groups.length - 1];
    if (last && last.row === row) last.columns.push(c);
    else groups.push({ row, columns: [c] });
  }
  const n = columns.length;
  const [head, ...rest] = groups;
  const one = head.columns.length === 1;
  const named = one ? data.names[head.columns[0]] : null;
  const started = head.row === 0;
  const form = (/** @type {boolean} */ single) => (started ? verb.now : verb.past)[single ? 0 : 1];
  if (!rest.length) {
    const when = capital(atStep(data, head.row));
    if (named !== null) return started ? `${when}, ${named} ${form(true)}.` : `${named} ${form(true)} ${atStep(data, head.row)}.`;
    if (n === total) return `${when}, all ${n} ${noun} ${form(false)}${started ? "" : " at once"}.`;
    return `${when}, ${n} of ${total} ${noun} ${form(false)}${started ? "" : " at once"}: ${listNames(data, columns)}.`;
  }
  const who = named ?? `${head.columns.length} ${noun}`;
  const whose = one ? "" : ` (${listNames(data, head.columns)})`;
  let text = started
    ? `${capital(atStep(data, 0))}, ${who} ${form(one)}${whose}`
    : `${who} ${form(one)} first, ${atStep(data, head.row)}${whose}`;
  const others = n - head.columns.length;
  const later = rest.flatMap((g) => g.columns);
  const whenOthers = rest.length === 1 ? atStep(data, rest[0].row) : `from step ${data.steps[rest[0].row]} to step ${data.steps[rest[rest.length - 1].row]}`;
  text += `; ${others} other${others === 1 ? "" : "s"} followed ${whenOthers}`;
  if (others <= LISTED) text += `: ${listNames(data, later)}`;
  if (n < total) text += ` (${n} of ${total} ${noun})`;
  return `${text}.`;
}

/**
 * "at step 61"; "by step 70" when steps before it were not recorded (it may have happened earlier);
 * "at the first recorded step (0)".
 * @param {WatchData} data
 * @param {number} row
 */
function atStep(data, row) {
  const step = data.steps[row];
  if (row === 0) return `at the first recorded step (${step})`;
  return data.steps[row - 1] === step - 1 ? `at step ${step}` : `by step ${step}`;
}

/** @param {string} text */
const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);

/**
 * "a, b and c"; "a, b, c and 12 more".
 * @param {WatchData} data
 * @param {number[]} columns
 */
function listNames(data, columns) {
  const names = columns.map((c) => data.names[c]);
  if (names.length === 1) return names[0];
  if (names.length <= LISTED + 2) return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  return `${names.slice(0, LISTED).join(", ")} and ${names.length - LISTED} more`;
}

/**
 * @param {Context} ctx
 * @param {number[]} hit
 */
function never({ data, total, noun }, hit) {
  const why = ".grad stayed None at every recorded step";
  if (hit.length === 1) return `${data.names[hit[0]]} never got a gradient: ${why}.`;
  if (hit.length === total) return `None of the ${total} ${noun} got a gradient: ${why}.`;
  return `${hit.length} ${noun} never got a gradient: ${why} (${listNames(data, sortByRow(hit, () => 0))}).`;
}

/**
 * Why the optimizer did not change them, as the update ratios show it: never measured for a
 * parameter the optimizer does not hold (NaN), exactly 0 when its step left the weights as they were.
 * @param {Context} ctx
 * @param {number[]} hit
 */
function unchanged({ data }, hit) {
  const measured = measuredRows(data);
  const steps = `${measured.length === 1 ? "the one step" : `all ${measured.length} steps`} where the weights were measured`;
  const held = hit.filter((c) => measured.some((row) => data.ratio[row * data.params + c] === 0));
  const notHeld = hit.filter((c) => !held.includes(c));
  /** @param {number[]} columns @param {string} one @param {string} many */
  const say = (columns, one, many) => {
    if (!columns.length) return "";
    const ordered = sortByRow(columns, () => 0);
    return columns.length === 1 ? `${data.names[ordered[0]]} ${one}` : `${columns.length} parameters (${listNames(data, ordered)}) ${many}`;
  };
  return [
    say(notHeld, "gets gradients, but the optimizer does not hold it: its weights never change.", "get gradients, but the optimizer does not hold them: their weights never change."),
    say(
      held,
      `gets gradients, but the optimizer's steps left its weights exactly as they were at ${steps} (a learning rate of 0, or updates too small to change a float32 weight).`,
      `get gradients, but the optimizer's steps left their weights exactly as they were at ${steps} (a learning rate of 0, or updates too small to change a float32 weight).`,
    ),
  ]
    .filter(Boolean)
    .join(" ");
}

/**
 * The run's first NaN/Inf is exact even when the history dropped rows (downsampling): say so when
 * the rows kept start later than it.
 * @param {WatchData} data
 * @param {number[]} hit
 * @param {(c: number) => number} firstRow
 */
function lostFirst(data, hit, firstRow) {
  const first = data.firstNonfinite;
  const row = Math.min(...hit.map(firstRow));
  if (!first || first.step >= data.steps[row]) return "";
  return ` The first NaN/Inf was at step ${first.step}, in ${first.name} (a step the history no longer keeps).`;
}
