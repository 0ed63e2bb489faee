// The small bar chart of a summary's histogram row (`graph.hist_bins` float32 counts).
import { formatNumber } from "../format.js";
import { h, s } from "./dom.js";

const WIDTH = 176;
const HEIGHT = 34;

/**
 * @param {Float32Array|null} counts
 * @param {number|null} min  value at the left edge
 * @param {number|null} max  value at the right edge
 */
export function histogram(counts, min, max) {
  if (!counts) return null;
  const peak = Math.max(...counts);
  const svg = s("svg", { width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "gv-hist" });
  const bar = WIDTH / counts.length;
  counts.forEach((c, i) => {
    if (!(c > 0) || !(peak > 0)) return;
    // sqrt keeps small bins visible next to a dominant one
    const height = Math.max(1, Math.sqrt(c / peak) * (HEIGHT - 1));
    svg.append(s("rect", { x: i * bar + 0.5, y: HEIGHT - height, width: bar - 1, height }));
  });
  return h(
    "div",
    { class: "gv-hist-box" },
    svg,
    h("div", { class: "gv-hist-axis" }, h("span", {}, formatNumber(min)), h("span", {}, formatNumber(max))),
  );
}
