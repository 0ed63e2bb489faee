// What the update-ratio chart says when it has nothing to draw: the ratio is measured only on
// weight steps (every `weights_every`-th recorded step, 100 by default), so a run of 100 steps or
// fewer has one point, 200 steps two, and a dot or two under a title read as a broken chart. In its
// place: the values measured, why there are so few, and what to pass to measure more.
import { formatCount, formatNumber } from "../format.js";

/**
 * Rows where some parameter's update ratio was measured.
 * @param {import("./data.js").WatchData} data
 * @returns {number[]}
 */
export function measuredRows(data) {
  const rows = [];
  for (let row = 0; row < data.rows; row++) {
    const base = row * data.params;
    for (let c = 0; c < data.params; c++) {
      if (!Number.isNaN(data.ratio[base + c])) {
        rows.push(row);
        break;
      }
    }
  }
  return rows;
}

/** Fewer measured rows than this: a sentence instead of the chart (one or two dots show no trend). */
export const MIN_MEASURED = 3;

/**
 * The sentence shown instead of the chart, or null when it has a line to draw (MIN_MEASURED rows).
 * @param {import("./data.js").WatchData} data
 * @param {Float32Array} median  the median update ratio over the parameters, per row
 * @returns {string|null}
 */
export function ratioNote(data, median) {
  if (!data.rows || !data.params) return null;
  const measured = measuredRows(data);
  if (measured.length >= MIN_MEASURED) return null;
  const every = data.timeline.weights_every;
  const steps = `${formatCount(data.rows)} recorded step${data.rows === 1 ? "" : "s"}`;
  const values = measured.map((row) => `step ${data.steps[row]}: median ${formatNumber(median[row])}`).join("; ");
  let what = `not measured in these ${steps}.`;
  if (measured.length && data.rows === measured.length) what = `measured at every recorded step (${values}): too few to draw a line yet.`;
  else if (measured.length) what = `measured at ${measured.length} of ${steps} (${values}): too few to draw a line.`;
  let why = "";
  if (every === null) why = " This run did not measure the weights (weights_every=None): pass weights_every=1 to gradviz.watch to measure them at every step.";
  else if (typeof every === "number" && every > 1 && data.rows > measured.length)
    why = ` This run measured the weights once every ${formatCount(every)} recorded steps (weights_every=${every}), which keeps long runs cheap: pass weights_every=1 to gradviz.watch to see the ratio at every step.`;
  return `${what}${why}`;
}
