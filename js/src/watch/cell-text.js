// What a heatmap cell or band says in words: the tooltip lines, and a gradient norm as text
// (its value, or why there is none).
import { formatNumber } from "../format.js";
import { STATE, at } from "./data.js";
import { countsText, stepCounts } from "./health.js";

/** @typedef {import("./data.js").WatchData} WatchData */
/** @typedef {import("./tooltip.js").TipLine} TipLine */

/**
 * Tooltip lines of a heatmap line at `row`: a parameter's cell, or a band's counts.
 * @param {WatchData} data
 * @param {number} row
 * @param {import("./rows.js").Line} line
 * @returns {TipLine[]}
 */
export function describeLine(data, row, line) {
  if (line.kind === "param") return describeCell(data, row, line.column);
  const columns = line.node.columns;
  return [`step ${data.steps[row]}`, `${line.node.path} (${columns.length} parameters)`, countsText(stepCounts(data, row, columns), data.vanish)];
}

/**
 * Tooltip lines of one cell: step, name, grad norm (or what stands instead), update ratio.
 * @param {WatchData} data
 * @param {number} row
 * @param {number} column
 * @returns {TipLine[]}
 */
export function describeCell(data, row, column) {
  const state = at(data, "state", row, column);
  const grad = at(data, "grad", row, column);
  const ratio = at(data, "ratio", row, column);
  const weight = at(data, "weight", row, column);
  /** @type {TipLine[]} */
  const lines = [
    `step ${data.steps[row]}`,
    data.names[column],
    ["grad norm", gradText(state, grad)],
    ["update ratio", Number.isNaN(ratio) ? "– (not measured at this step)" : formatNumber(ratio)],
  ];
  if (!Number.isNaN(weight)) lines.push(["weight norm", formatNumber(weight)]);
  return lines;
}

/**
 * The grad norm of a cell as text: its value, or why there is none.
 * @param {number} state  a STATE code
 * @param {number} grad
 */
export function gradText(state, grad) {
  if (state === STATE.none) return "None (no gradient)";
  if (state === STATE.zero) return "0 (exactly zero)";
  if (state === STATE.nonfinite) return `${formatNumber(grad)} (non-finite gradient)`;
  return formatNumber(grad);
}
