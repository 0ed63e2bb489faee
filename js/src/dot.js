// DOT source for the visible graph. Ids are ours (state ids, `__module_<n>`, `__fold_<n>`,
// `__group_<n>`, `cluster_<n>`); every user-derived string goes through escape.js. Severity colours
// come only from `graph.palette`. Each node and edge gets a `gv-<kind>` class: style.css recolours
// the neutral parts (ops, boxes, edges, markers) from the page's theme; the colours written here are
// the light theme's, for an SVG seen without the stylesheet.
import { clip, dotLabel, dotQuote } from "./escape.js";
import { formatCount, formatShape } from "./format.js";
import { lookup } from "./lookup.js";

/** @typedef {Record<string, string>} Palette */
/** @typedef {import("./visible.js").VisibleItem} VisibleItem */
/** @typedef {Record<string, string>} Attrs   DOT attributes; `label` is already quoted */

const FONT = "Helvetica,Arial,sans-serif";
const GRAD_EDGE = "#90a4ae";
const BOX_LINE = "#b0bec5";
const INK = "#263238";
const TITLE = "#455a64";
const PANEL = "#ffffff";

/**
 * @param {import("./graph-index.js").GraphIndex} index
 * @param {import("./visible.js").VisibleGraph} visible
 * @param {{min: number, max: number}|null} normRange  log10 range of captured edge norms
 */
export function toDot(index, visible, normRange) {
  const palette = index.graph.palette ?? {};
  /** @type {Map<string, VisibleItem[]>} */
  const byContainer = new Map();
  for (const item of visible.items) {
    const list = byContainer.get(item.container) ?? [];
    list.push(item);
    byContainer.set(item.container, list);
  }

  const lines = [
    "digraph gradviz {",
    `  graph [rankdir=BT, fontname="${FONT}", fontsize=10, nodesep=0.25, ranksep=0.35, bgcolor="transparent", labeljust=l];`,
    `  node [fontname="${FONT}", fontsize=10, shape=box, style="rounded,filled", height=0.3, margin="0.1,0.04", color="${BOX_LINE}", fontcolor="${INK}"];`,
    `  edge [arrowsize=0.6, color="${GRAD_EDGE}"];`,
  ];

  /**
   * @param {string} path
   * @param {string} indent
   */
  const emit = (path, indent) => {
    for (const item of byContainer.get(path) ?? []) lines.push(`${indent}${itemLine(item, palette)}`);
    for (const child of lookup(index.modules, path).children) {
      if (!visible.boxes.has(child)) continue;
      const m = lookup(index.modules, child);
      lines.push(`${indent}subgraph cluster_${m.uid} {`);
      const label = dotLabel([`▾ ${clip(m.path, 60)}${m.type ? ` · ${m.type}` : ""}`]);
      // labelloc=b is the top of the box once rankdir=BT turns the drawing upside down
      lines.push(`${indent}  graph [label=${label}, labelloc=b, style="rounded", color="${BOX_LINE}", fontcolor="${TITLE}", class="gv-box"];`);
      emit(child, `${indent}  `);
      lines.push(`${indent}}`);
    }
  };
  emit("", "  ");

  for (const e of visible.edges) lines.push(`  ${dotQuote(e.source)} -> ${dotQuote(e.target)} ${edgeAttrs(e, palette, normRange)};`);
  lines.push("}");
  return lines.join("\n");
}

/**
 * log10 range of the finite, positive norms, or null when none was captured.
 * @param {Iterable<number>} norms
 * @returns {{min: number, max: number}|null}
 */
export function normRangeOf(norms) {
  let min = Infinity;
  let max = -Infinity;
  for (const n of norms) {
    if (!(n > 0) || !Number.isFinite(n)) continue;
    min = Math.min(min, Math.log10(n));
    max = Math.max(max, Math.log10(n));
  }
  return min <= max ? { min, max } : null;
}

/**
 * @param {VisibleItem} item
 * @param {Palette} palette
 */
function itemLine(item, palette) {
  const attrs = itemAttrs(item, palette);
  return `${dotQuote(item.id)} [${Object.entries(attrs)
    .map(([k, v]) => `${k}=${k === "label" ? v : dotQuote(v)}`)
    .join(", ")}];`;
}

/**
 * @param {VisibleItem} item
 * @param {Palette} palette
 * @returns {Attrs}
 */
function itemAttrs(item, palette) {
  if (item.module) return boxAttrs(item, `▸ ${clip(item.module.path, 50)}`, item.module.total, palette, "gv-module");
  if (item.fold) return boxAttrs(item, `▸ ${clip(item.fold.label, 60)}`, item.fold.total, palette, "gv-fold");
  if (item.group) return groupAttrs(item.group, palette);
  if (item.node) return nodeAttrs(item.node, palette);
  throw new Error(`gradviz: the visible item ${item.id} stands for nothing`);
}

/**
 * @param {import("./types.js").GraphNode} n
 * @param {Palette} palette
 * @returns {Attrs}
 */
function nodeAttrs(n, palette) {
  switch (n.kind) {
    case "param":
    case "leaf": {
      const fill = n.severity ? palette[n.severity] : palette.leaf;
      const name = shortName(n);
      const shape = n.tensor ? formatShape(n.tensor.shape) : null;
      return {
        label: dotLabel(shape ? [clip(name), shape] : [clip(name)]),
        style: "filled",
        fillcolor: fill ?? PANEL,
        fontcolor: textOn(fill),
        color: n.severity ? (fill ?? BOX_LINE) : "#607d8b",
        class: n.severity ? `gv-${n.kind}` : `gv-${n.kind} gv-plain`,
      };
    }
    case "loss":
      return { label: dotLabel(labelLines(n.label)), fillcolor: palette.loss, fontcolor: textOn(palette.loss), color: palette.loss, class: "gv-loss" };
    case "cut":
    case "birth": {
      const color = n.kind === "cut" ? palette.cut : palette.nonfinite;
      return {
        label: dotLabel(labelLines(n.label, 60)),
        style: "dashed,filled",
        margin: "0.2,0.04", // Graphviz under-estimates the width of "✂" and "☢"
        fillcolor: PANEL,
        color: color ?? BOX_LINE,
        penwidth: "1.5",
        fontcolor: color ?? INK,
        class: `gv-${n.kind}`,
      };
    }
    default: {
      if (n.severity && palette[n.severity]) {
        const fill = palette[n.severity]; // an op where a NaN/Inf was born
        return { label: dotLabel(labelLines(n.label)), fillcolor: fill, fontcolor: textOn(fill), color: fill, class: "gv-op gv-flagged" };
      }
      return { label: dotLabel(labelLines(n.label)), fillcolor: palette.op ?? "#eceff1", class: "gv-op" };
    }
  }
}

/**
 * A collapsed module or a fold of repeated blocks: one box, outlined in its worst problem's colour.
 * @param {VisibleItem} item
 * @param {string} title
 * @param {number} total   nodes inside
 * @param {Palette} palette
 * @param {"gv-module"|"gv-fold"} kind
 * @returns {Attrs}
 */
function boxAttrs(item, title, total, palette, kind) {
  const sub = [`${formatCount(total)} nodes`];
  if (item.problems) sub.push(`${formatCount(item.problems)} with problems`);
  const line = item.worst ? palette[item.worst] : null;
  return {
    label: dotLabel([title, sub.join(" · ")]),
    shape: "box",
    style: "filled",
    fillcolor: "#f5f7f8",
    color: line ?? "#78909c",
    penwidth: line ? "2" : "1",
    peripheries: kind === "gv-fold" ? "3" : "2",
    class: line ? `${kind} gv-flagged` : kind,
  };
}

/**
 * Parameters that hang off one marker with one verdict: one box in their colour.
 * @param {import("./graph-index.js").Group} group
 * @param {Palette} palette
 * @returns {Attrs}
 */
function groupAttrs(group, palette) {
  const fill = (group.severity && palette[group.severity]) || palette.red || "#d32f2f";
  return {
    label: dotLabel([clip(group.label, 60), "click to list them"]),
    shape: "box",
    style: "filled",
    margin: "0.2,0.05", // Graphviz under-estimates the width of "—" and "*"
    fillcolor: fill,
    fontcolor: textOn(fill),
    color: fill,
    peripheries: "2",
    class: "gv-group",
  };
}

/**
 * @param {import("./visible.js").VisibleEdge} e
 * @param {Palette} palette
 * @param {{min: number, max: number}|null} range
 */
function edgeAttrs(e, palette, range) {
  if (e.kind === "cut") return `[style=dashed, color=${dotQuote(palette.cut)}, penwidth=1.4, class="gv-cut"]`;
  if (e.kind === "birth") return `[style=dashed, color=${dotQuote(palette.nonfinite ?? "#7b1fa2")}, penwidth=1.4, class="gv-birth"]`;
  if (!range || !(e.norm > 0) || !Number.isFinite(e.norm)) return `[penwidth=1, class="gv-grad"]`;
  const t = range.max > range.min ? (Math.log10(e.norm) - range.min) / (range.max - range.min) : 0.5;
  return `[penwidth=${(0.75 + 2.75 * t).toFixed(2)}, class="gv-grad"]`;
}

/**
 * A state label's own line breaks kept, each line clipped.
 * @param {string|null|undefined} label
 * @param {number} [max]
 */
const labelLines = (label, max) => String(label ?? "").split("\n").map((line) => clip(line, max));

/**
 * A parameter's name without its module prefix: the box around it already says the module.
 * @param {import("./types.js").GraphNode} n
 */
function shortName(n) {
  const name = n.tensor?.name ?? n.label;
  const prefix = n.module ? `${n.module}.` : "";
  return prefix && name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

/**
 * Dark or white text, whichever reads better on `hex`.
 * @param {string|null|undefined} hex
 */
function textOn(hex) {
  const m = /^#([0-9a-f]{6})$/i.exec(hex ?? "");
  if (!m) return INK;
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(m[1].slice(i, i + 2), 16) / 255);
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return luminance > 0.6 ? INK : "#ffffff";
}
