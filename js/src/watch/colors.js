// Colours of the watch view, shared by the heatmap, the legend and the graph's parameter nodes:
// a sequential scale by log10 gradient norm (light = small, dark = large), and three colours
// the scale never uses for the states that have no norm. Zero and NaN/Inf match the trace
// palette's "zero" and "nonfinite" (gradviz/view/_state.py PALETTE).
import { STATE } from "./data.js";

export const SPECIAL = Object.freeze({
  none: "#9e9e9e", // .grad was None
  zero: "#ef6c00", // exactly zero
  nonfinite: "#7b1fa2", // NaN or Inf
});

/** Stops of the sequential scale (ColorBrewer YlGnBu without its palest step). */
export const SCALE = ["#edf8b1", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#253494", "#081d58"];

const LUT_SIZE = 256;
/**
 * @param {string} hex  "#rrggbb"
 * @returns {number[]}
 */
const rgbOf = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

/** RGB of the scale at t in [0, 1], as LUT_SIZE precomputed entries. */
const LUT = (() => {
  const stops = SCALE.map(rgbOf);
  const out = new Uint8Array(LUT_SIZE * 3);
  for (let i = 0; i < LUT_SIZE; i++) {
    const x = (i / (LUT_SIZE - 1)) * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(x));
    const f = x - k;
    for (let j = 0; j < 3; j++) out[i * 3 + j] = Math.round(stops[k][j] * (1 - f) + stops[k + 1][j] * f);
  }
  return out;
})();

const ZERO_RGB = rgbOf(SPECIAL.zero);
const NONFINITE_RGB = rgbOf(SPECIAL.nonfinite);
/** @type {Partial<Record<number, number[]>>} RGB of the states that have no norm, by state */
const SPECIAL_RGB = { [STATE.none]: rgbOf(SPECIAL.none), [STATE.zero]: ZERO_RGB, [STATE.nonfinite]: NONFINITE_RGB };

/**
 * Write the RGB of a cell into `out` at `offset` (alpha is left to the caller).
 * @param {number} state  0 none, 1 zero, 2 finite, 3 NaN/Inf
 * @param {number} norm
 * @param {{min: number, max: number}|null} range  log10 range of the scale
 * @param {{[i: number]: number}} out  RGB(A) values
 * @param {number} offset
 */
export function cellRgb(state, norm, range, out, offset) {
  const special = SPECIAL_RGB[state];
  if (special || !(norm > 0) || !range) {
    const rgb = special ?? (norm === 0 ? ZERO_RGB : NONFINITE_RGB);
    out[offset] = rgb[0];
    out[offset + 1] = rgb[1];
    out[offset + 2] = rgb[2];
    return;
  }
  const t = (Math.log10(norm) - range.min) / (range.max - range.min);
  const i = Math.max(0, Math.min(LUT_SIZE - 1, Math.round(t * (LUT_SIZE - 1)))) * 3;
  out[offset] = LUT[i];
  out[offset + 1] = LUT[i + 1];
  out[offset + 2] = LUT[i + 2];
}

/**
 * The CSS colour (#rrggbb) of a cell.
 * @param {number} state
 * @param {number} norm
 * @param {{min: number, max: number}|null} range
 */
export function cellColor(state, norm, range) {
  const rgb = [0, 0, 0];
  cellRgb(state, norm, range, rgb, 0);
  return `#${rgb.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

/** A CSS gradient of the scale, for the legend's colour bar. */
export const scaleGradient = () => `linear-gradient(to right, ${SCALE.join(", ")})`;

/**
 * Dark or white text, whichever reads better on `hex`.
 * @param {string} hex  "#rrggbb"
 */
export function inkOn(hex) {
  const [r, g, b] = rgbOf(hex).map((v) => v / 255);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 ? "#263238" : "#ffffff";
}

/**
 * Badge colours of each health kind (health.js): white text on each has a contrast of 4.5:1 or more.
 * @type {Readonly<Record<import("./health.js").Health, string>>}
 */
export const HEALTH_COLORS = Object.freeze({
  learn: "#2e7d32", // the trace palette's "ok"
  vanishing: "#01579b",
  unchanged: "#b71c1c",
  frozen: "#616161",
  none: "#616161",
  zero: "#bf360c",
  nonfinite: SPECIAL.nonfinite,
});

/**
 * Accent of each banner line (problems.js), and of the rows its "Show it" marks.
 * @type {Readonly<Record<import("./problems.js").ProblemKind, string>>}
 */
export const PROBLEM_COLORS = Object.freeze({
  nonfinite: SPECIAL.nonfinite,
  explode: "#d32f2f", // chart.js FLAG_COLORS.explode
  zero: HEALTH_COLORS.zero,
  never: HEALTH_COLORS.none,
  none: HEALTH_COLORS.none,
  unchanged: HEALTH_COLORS.unchanged,
  vanishing: HEALTH_COLORS.vanishing,
  headroom: "#c77700", // heading for overflow: amber, apart from the health colours
});

/** Line colours of the compared parameters (none of them a state colour). */
export const SERIES = ["#1565c0", "#00897b", "#c2185b", "#6d4c41", "#827717", "#455a64", "#0097a7", "#7cb342"];
