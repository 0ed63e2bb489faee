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
 * The graph panel's key: parameters take the heatmap's colours at the selected step. The graph
 * starts at the model's output (gradviz.watch hooks the model's forward, not the loss): its blue
 * node is that output's autograd op (UnsafeViewBackward0 for a Linear head on a sequence), so the
 * key names it so, where the trace's key says "loss".
 * @param {Partial<import("../types.js").Graph>} graph
 */
export function graphLegend(graph) {
  const palette = graph.palette ?? {};
  return h(
    "div",
    { class: "gv-legend", role: "note", "aria-label": "Graph legend" },
    entry(h("span", { class: "gv-swatch gv-swatch-scale", style: `background: ${scaleGradient()}` }), "parameter: its gradient norm at the selected step"),
    entry(h("span", { class: "gv-swatch gv-swatch-op", style: `--gv-swatch: ${safeColor(palette.op)}` }), "autograd op"),
    entry(swatch(safeColor(palette.loss)), "the model's output (the graph starts there; the loss is not drawn)"),
    entry(h("span", { class: "gv-line gv-line-cut", style: `--gv-swatch: ${safeColor(palette.cut)}` }), "path cut"),
    entry(h("span", { class: "gv-swatch gv-swatch-module" }), "collapsed module (click to expand)"),
  );
}

/**
 * The replayed graph's key: the trace view's (its severities are those of the step replayed), whose
 * root is the model's output here, as in the first backward's graph: the loss is not drawn.
 * @param {Partial<import("../types.js").Graph>} graph
 * @param {boolean} hasNorms
 */
export function replayLegend(graph, hasNorms) {
  const key = legend(graph, hasNorms);
  for (const item of key.querySelectorAll(".gv-legend-item")) {
    const text = item.lastChild;
    if (text?.nodeType === Node.TEXT_NODE && text.textContent === "loss") text.textContent = "the model's output (the backward starts there; the loss is not drawn)";
  }
  return key;
}
