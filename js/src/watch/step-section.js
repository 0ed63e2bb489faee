// The watch view's section of a parameter's inspector (graph tab): what the selected step
// recorded for it (a health badge and one sentence, the norms, a sparkline of every step) and,
// when the first backward pass found a problem (frozen, a cut), that pass's cause, line and fix.
import { formatNumber } from "../format.js";
import { h } from "../ui/dom.js";
import { gradText } from "./cell-text.js";
import { HEALTH_COLORS } from "./colors.js";
import { at } from "./data.js";
import { HEALTH_LABEL, healthAt, healthSentence } from "./health.js";
import { sparkline } from "./sparkline.js";

/**
 * @param {import("./data.js").WatchData} data
 * @param {number|null} row   the selected row (null: nothing recorded)
 * @param {number} column
 * @param {import("../types.js").Verdict|null} verdict  of the first pass
 * @returns {Node[]}
 */
export function stepSection(data, row, column, verdict) {
  if (!data.rows || row === null) return [h("p", { class: "gv-muted" }, "No step recorded yet.")];
  const kind = healthAt(data, row, column);
  /** @param {string} label @param {string} text */
  const value = (label, text) => h("tr", {}, h("th", {}, label), h("td", {}, text));
  /** @param {number} v */
  const measured = (v) => (Number.isNaN(v) ? "– (not measured at this step)" : formatNumber(v));
  const first = firstPass(verdict);
  return [
    h(
      "div",
      { class: "gv-wt-verdict", "data-health": kind, style: `--gv-accent: ${HEALTH_COLORS[kind]}` },
      h(
        "div",
        { class: "gv-row" },
        h("span", { class: "gv-label" }, `At step ${data.steps[row]}`),
        h("span", { class: "gv-wt-badge", style: `--gv-swatch: ${HEALTH_COLORS[kind]}` }, HEALTH_LABEL[kind]),
      ),
      h("p", { class: "gv-message" }, healthSentence(kind, data, row)),
    ),
    h(
      "table",
      { class: "gv-table" },
      value("gradient norm", gradText(at(data, "state", row, column), at(data, "grad", row, column))),
      value("update ratio", measured(at(data, "ratio", row, column))),
      value("weight norm", measured(at(data, "weight", row, column))),
    ),
    h("h4", {}, "Gradient norm over steps"),
    sparkline(data, column, row),
    ...(first ? [first] : []),
  ];
}

/**
 * What the first backward pass found, when it was a problem: it explains a None at every step.
 * @param {import("../types.js").Verdict|null} verdict
 */
function firstPass(verdict) {
  if (!verdict || verdict.cause === "ok") return null;
  /** @param {string} label @param {Node} value */
  const row = (label, value) => h("div", { class: "gv-row" }, h("span", { class: "gv-label" }, label), value);
  return h(
    "section",
    { class: "gv-wt-first" },
    h("h4", {}, "At the first backward pass"),
    row("Cause", h("code", {}, verdict.cause)),
    h("p", { class: "gv-message" }, verdict.message),
    verdict.where && row("Where", h("code", {}, verdict.where)),
    row("Fix", h("span", { class: "gv-value" }, verdict.fix)),
  );
}
