// A parameter's gradient norm over every recorded step, small, for the graph inspector: log
// scale, gaps where there is no finite norm, coloured ticks below for None / zero / NaN-Inf
// runs, the selected step as a cursor and the first NaN/Inf step as a dashed line.
import { s } from "../ui/dom.js";
import { SPECIAL } from "./colors.js";
import { STATE, at } from "./data.js";

const WIDTH = 176;
const HEIGHT = 44;
const TICKS = 4; // px band under the line for the states without a norm
/** @type {Partial<Record<number, "none"|"zero"|"nonfinite">>} the states without a norm, by state */
const STATE_CLASS = { [STATE.none]: "none", [STATE.zero]: "zero", [STATE.nonfinite]: "nonfinite" };

/**
 * @param {import("./data.js").WatchData} data
 * @param {number} column
 * @param {number|null} cursor  the selected row
 */
export function sparkline(data, column, cursor) {
  const svg = s("svg", { class: "gv-spark", width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, "data-column": column });
  const rows = data.rows;
  if (!rows) return svg;
  /** @param {number} row */
  const x = (row) => ((row + 0.5) / rows) * WIDTH;
  let min = Infinity;
  let max = -Infinity;
  for (let row = 0; row < rows; row++) {
    const v = at(data, "grad", row, column);
    if (at(data, "state", row, column) !== STATE.finite || !(v > 0) || !Number.isFinite(v)) continue;
    min = Math.min(min, Math.log10(v));
    max = Math.max(max, Math.log10(v));
  }
  if (max - min < 1e-9) [min, max] = [min - 0.5, max + 0.5];
  const plotH = HEIGHT - TICKS - 3;
  /** @param {number} v */
  const y = (v) => 1 + plotH - ((Math.log10(v) - min) / (max - min)) * (plotH - 1);

  let d = "";
  let pen = "M";
  /** @type {{state: number, from: number}|null} a run of rows in one state without a norm */
  let run = null;
  /** @param {number} end */
  const closeRun = (end) => {
    if (!run) return;
    const kind = STATE_CLASS[run.state];
    if (kind) svg.append(s("rect", { class: `gv-spark-${kind}`, x: (run.from / rows) * WIDTH, y: HEIGHT - TICKS, width: Math.max(1, ((end - run.from) / rows) * WIDTH), height: TICKS, fill: SPECIAL[kind] }));
    run = null;
  };
  for (let row = 0; row < rows; row++) {
    const state = at(data, "state", row, column);
    const v = at(data, "grad", row, column);
    if (state === STATE.finite && v > 0 && Number.isFinite(v)) {
      d += `${pen}${x(row).toFixed(1)},${y(v).toFixed(1)}`;
      pen = "L";
    } else {
      pen = "M";
    }
    if (run && run.state !== state) closeRun(row);
    if (!run && state !== STATE.finite) run = { state, from: row };
  }
  closeRun(rows);
  svg.prepend(s("path", { class: "gv-spark-line", d }));
  const first = data.firstNonfinite;
  if (first) svg.append(s("line", { class: "gv-first-nan", x1: x(first.row), x2: x(first.row), y1: 0, y2: HEIGHT }));
  if (cursor !== null && cursor < rows) svg.append(s("line", { class: "gv-cursor", x1: x(cursor), x2: x(cursor), y1: 0, y2: HEIGHT }));
  return svg;
}
