// The colour key: severities from `graph.legend` (colours from `graph.palette`), then the
// drawing conventions the front end adds (ops, loss, cuts, collapsed modules, edge width).
import { h } from "./dom.js";

/**
 * @param {Partial<import("../types.js").Graph>} graph
 * @param {boolean} hasNorms  whether any edge norm was captured
 */
export function legend(graph, hasNorms) {
  const palette = graph.palette ?? {};
  /** @param {string|undefined} color */
  const swatch = (color, extra = "") => h("span", { class: `gv-swatch ${extra}`, style: `--gv-swatch: ${safeColor(color)}` });
  return h(
    "div",
    { class: "gv-legend", role: "note", "aria-label": "Legend" },
    (graph.legend ?? []).map((item) => entry(swatch(palette[item.severity]), item.label)),
    entry(swatch(palette.op, "gv-swatch-op"), "autograd op"),
    entry(swatch(palette.loss), "loss"),
    entry(h("span", { class: "gv-line gv-line-cut", style: `--gv-swatch: ${safeColor(palette.cut)}` }), "path cut (✂ marks where)"),
    hasBirths(graph) && entry(h("span", { class: "gv-swatch gv-swatch-marker", style: `--gv-swatch: ${safeColor(palette.nonfinite)}` }), "☢ where a NaN/Inf was born"),
    hasNorms && entry(h("span", { class: "gv-line gv-line-thick" }), "wider = larger gradient norm"),
    entry(h("span", { class: "gv-swatch gv-swatch-module" }), "collapsed module or repeated blocks (click to expand)"),
  );
}

/**
 * One entry of a legend: its mark, then its words.
 * @param {Node} mark
 * @param {string} text
 */
const entry = (mark, text) => h("span", { class: "gv-legend-item" }, mark, text);

/**
 * The key of a cut toggled off (ui/whatif.js), shown under the legend while one is.
 * @param {Record<string, string>} palette
 */
export function whatifLegend(palette) {
  return h(
    "div",
    { class: "gv-legend gv-legend-whatif", role: "note", "aria-label": "Legend of the cut toggled off" },
    entry(h("span", { class: "gv-swatch gv-swatch-reached" }), "would be reached without the cut (can still get a zero gradient)"),
    entry(h("span", { class: "gv-swatch gv-swatch-marker gv-swatch-off", style: `--gv-swatch: ${safeColor(palette.cut)}` }), "✂ crossed out: the cut toggled off"),
  );
}

/** @param {Partial<import("../types.js").Graph>} graph */
const hasBirths = (graph) => (graph.nodes ?? []).some((n) => n.kind === "birth");

/**
 * Palette values are meant to be CSS colours; anything else is dropped, not injected into style.
 * @param {string|null|undefined} value
 * @returns {string}
 */
export function safeColor(value) {
  return value && /^#[0-9a-f]{3,8}$|^[a-z]+$/i.test(value) ? value : "transparent";
}
