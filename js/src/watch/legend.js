// The watch view's keys: the colour scale of gradient norms (heatmap and graph nodes), the
// colours of the states without a norm, the chart flags, and the graph panel's own key.
import { h } from "../ui/dom.js";
import { legend, safeColor } from "../ui/legend.js";
import { FLAG_COLORS, decade } from "./chart.js";
import { SPECIAL, scaleGradient } from "./colors.js";

/** @param {string} color */
const swatch = (color) => h("span", { class: "gv-swatch", style: `--gv-swatch: ${color}` });
/** @param {Node} mark @param {string} text */
const entry = (mark, text) => h("span", { class: "gv-legend-item" }, mark, text);

/**
 * @param {{min: number, max: number}|null} range  log10 range of the colour scale
 * @param {{vanish: number, explode: number}} thresholds
 */
export function watchLegend(range, { vanish, explode }) {
  return h(
    "div",
    { class: "gv-legend", role: "note", "aria-label": "Legend" },
    entry(
      h(
        "span",
        { class: "gv-scale" },
        h("span", { class: "gv-scale-end" }, range ? decade(range.min) : "small"),
        h("span", { class: "gv-scale-bar", style: `background: ${scaleGradient()}` }),
        h("span", { class: "gv-scale-end" }, range ? decade(range.max) : "large"),
      ),
      "gradient norm (log scale)",
    ),
    entry(swatch(SPECIAL.none), "None (no gradient)"),
    entry(swatch(SPECIAL.zero), "zero"),
    entry(swatch(SPECIAL.nonfinite), "NaN/Inf"),
    entry(h("span", { class: "gv-flag-key", style: `color: ${FLAG_COLORS.vanish}` }, "▼"), `vanishing (< ${vanish})`),
    entry(h("span", { class: "gv-flag-key", style: `color: ${FLAG_COLORS.explode}` }, "▲"), `exploding (> ${explode}× running median)`),
    entry(h("span", { class: "gv-line gv-line-nan" }), "first NaN/Inf step"),
    entry(h("span", { class: "gv-hm-caret" }, "▸"), "module band: its worst state, else the geometric mean of its norms"),
  );
}

/**
 * What the key calls the root node (the blue one) of a watch graph: the graph starts at the model's
 * output (gradviz.watch hooks the model's forward, not the loss), which is the loss itself when the
 * model computes it in its forward (a Hugging Face model given labels: NllLossBackward0). Python decides
 * which from the graph (`timeline.loss_root`, gradviz/view/_watch_state.py); the key only says it.
 * @param {boolean} loss  the root is the loss
 * @param {"graph"|"backward"} starts  what starts there
 */
export function rootLabel(loss, starts) {
  return loss ? `the loss, computed in the model's forward (the ${starts} starts there)` : `the model's output (the ${starts} starts there; the loss is not drawn)`;
}

/**
 * The graph panel's key: parameters take the heatmap's colours at the selected step. Its blue node is
 * the root of the graph: the model's output (UnsafeViewBackward0 for a Linear head on a sequence), or
 * the loss when the model computes it (`rootLabel`), where the trace's key says "loss".
 * @param {Partial<import("../types.js").Graph>} graph
 * @param {boolean} [loss]   its root is the loss (`timeline.loss_root.first`)
 */
export function graphLegend(graph, loss = false) {
  const palette = graph.palette ?? {};
  return h(
    "div",
    { class: "gv-legend", role: "note", "aria-label": "Graph legend" },
    entry(h("span", { class: "gv-swatch gv-swatch-scale", style: `background: ${scaleGradient()}` }), "parameter: its gradient norm at the selected step"),
    entry(h("span", { class: "gv-swatch gv-swatch-op", style: `--gv-swatch: ${safeColor(palette.op)}` }), "autograd op"),
    entry(swatch(safeColor(palette.loss)), rootLabel(loss, "graph")),
    entry(h("span", { class: "gv-line gv-line-cut", style: `--gv-swatch: ${safeColor(palette.cut)}` }), "path cut"),
    entry(h("span", { class: "gv-swatch gv-swatch-module" }), "collapsed module (click to expand)"),
  );
}

/**
 * The replayed graph's key: the trace view's (its severities are those of the step replayed), whose
 * root is the model's output here, as in the first backward's graph (or the loss, `rootLabel`).
 * @param {Partial<import("../types.js").Graph>} graph
 * @param {boolean} hasNorms
 * @param {boolean} [loss]   its root is the loss (`timeline.loss_root.replay`)
 */
export function replayLegend(graph, hasNorms, loss = false) {
  const key = legend(graph, hasNorms);
  for (const item of key.querySelectorAll(".gv-legend-item")) {
    const text = item.lastChild;
    if (text?.nodeType === Node.TEXT_NODE && text.textContent === "loss") text.textContent = rootLabel(loss, "backward");
  }
  return key;
}
