// What the update-ratio chart says when it has nothing to draw: the ratio is measured only on
// weight steps (every `weights_every`-th recorded step, 100 by default), so a run of 100 steps or
// fewer has one point, and a single dot under a title reads as a broken chart. In its place: how
// many steps were measured, why, and what to pass to measure more. Pure function over WatchData.
import { formatCount } from "../format.js";

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

/**
 * The sentence shown instead of the chart, or null when it has a line to draw (2 measured rows or more).
 * @param {import("./data.js").WatchData} data
 * @returns {string|null}
 */
export function ratioNote(data) {
  if (!data.rows || !data.params) return null;
  const measured = measuredRows(data);
  if (measured.length >= 2) return null;
  const every = data.timeline.weights_every;
  const steps = `${formatCount(data.rows)} recorded step${data.rows === 1 ? "" : "s"}`;
  const what =
    measured.length === 1
      ? data.rows === 1
        ? "measured at the only recorded step, so there is no line to draw yet."
        : `measured at 1 of ${steps} (step ${data.steps[measured[0]]}), so there is no line to draw.`
      : `not measured in these ${steps}.`;
  let why = "";
  if (every === null) why = " This run did not measure the weights (weights_every=None): pass weights_every=1 to gradviz.watch to measure them at every step.";
  else if (typeof every === "number" && every > 1 && data.rows > 1)
    why = ` This run measured the weights once every ${formatCount(every)} recorded steps (weights_every=${every}), which keeps long runs cheap: pass weights_every=1 to gradviz.watch to see the ratio at every step.`;
  return `${what}${why}`;
}
