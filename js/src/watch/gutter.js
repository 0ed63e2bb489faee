// The width of the label column left of every plot, shared by the heatmap's labels, the step
// slider and the charts' keys so that all of them keep one x axis: sized to the longest label as
// drawn (every band open), between MIN_GUTTER and GUTTER; longer names are clipped from the start.
import { GUTTER } from "./cells.js";
import { displayLines } from "./rows.js";

/** px: the slider's "step 12345 (latest)" and its Latest button; a chart's title, key and y ticks. */
export const MIN_GUTTER = 200;
/** px per band level, and the padding around a label (heatmap.js draws them so). */
export const INDENT = 12;
const LEFT = 6;
const RIGHT = 14;
const CARET = 12;
/** Average width of an 11 px label character, where text cannot be measured (no canvas). */
export const CHAR_PX = 6.4;

/**
 * @typedef {(text: string, bold: boolean) => number} Measure   px width of a label's text
 */

/**
 * @param {import("./data.js").WatchData} data
 * @param {Measure} measure
 * @returns {number} px
 */
export function gutterWidth(data, measure) {
  const open = new Set(data.tree.bands.map((b) => b.path));
  let widest = 0;
  for (const line of displayLines(data.tree, open)) {
    const indent = LEFT + line.depth * INDENT;
    const width =
      line.kind === "band"
        ? indent + CARET + measure(`${line.node.path} ${line.node.columns.length}`, true)
        : indent + measure(data.names[line.column] ?? "", false);
    widest = Math.max(widest, width + RIGHT);
  }
  return Math.max(MIN_GUTTER, Math.min(GUTTER, Math.ceil(widest)));
}

/**
 * A Measure in the font of `el` (11 px labels), by a canvas; by CHAR_PX where there is no canvas.
 * @param {Element} el
 * @returns {Measure}
 */
export function measurer(el) {
  const ctx = typeof document === "undefined" ? null : document.createElement("canvas").getContext?.("2d");
  if (!ctx || typeof ctx.measureText !== "function") return (text, bold) => text.length * CHAR_PX * (bold ? 1.08 : 1);
  const family = globalThis.getComputedStyle?.(el).fontFamily || "system-ui, sans-serif";
  return (text, bold) => {
    ctx.font = `${bold ? 600 : 400} 11px ${family}`;
    return ctx.measureText(text).width;
  };
}

/**
 * "…layers.11.attn": the end of a long name, which tells names apart.
 * @param {string} text
 * @param {number} max  characters
 */
export const clipStart = (text, max) => (text.length <= max ? text : `…${text.slice(text.length - max + 1)}`);
