// "What if this cut were removed?" (js/STATE.md, a cut marker's `whatif`): one cut marker at a time can
// be toggled off. The drawing is not laid out again: the marker and its dashed edges are crossed out and
// faded, the parameters its `whatif.reached` names are drawn "would be reached" (a green dashed outline),
// those in `whatif.still` keep their red and say why on hover. Everything it adds to the SVG carries
// `data-gv-whatif`, so that clearing it gives back the drawing exactly as it was.
import { drawnAs } from "../visible.js";
import { isProblem } from "../graph-index.js";
import { h, richText, s } from "./dom.js";

/** @typedef {import("../graph-index.js").GraphIndex} GraphIndex */
/** @typedef {import("../types.js").GraphNode} GraphNode */
/** @typedef {import("../types.js").WhatIfInfo} WhatIfInfo */
/** @typedef {import("../visible.js").ViewOptions} ViewOptions */

/** The classes a what-if puts on drawn nodes and edges (style.css). */
const CLASSES = ["gv-whatif-off", "gv-whatif-reached", "gv-whatif-partly", "gv-whatif-still"];
const ZERO_NOTE = "can still get a zero gradient";

/**
 * How one drawn item (a parameter, or a group, fold or collapsed module holding some) looks with the cut off.
 * @typedef {object} ItemMark
 * @property {"reached"|"partly"|"still"} kind  reached: every problem parameter it stands for would be
 *   reached; partly: some would, others stay red; still: none of those the cut names would be
 * @property {string[]} reached   parameter ids it stands for that would be reached
 * @property {string[]} still     parameter ids it stands for that would still not be reached
 * @property {string} tip         the words shown on hover
 *
 * @typedef {object} WhatIfMarks
 * @property {string} cut                 the marker toggled off
 * @property {string|null} marker         its DOT id when drawn as itself (crossed out), else null
 * @property {Map<string, ItemMark>} items   DOT id -> how it is drawn
 */

/**
 * The what-if of node `id` when it can be toggled off (a cut marker whose cut has an identity), else null.
 * @param {GraphIndex} index
 * @param {string|null} id
 * @returns {WhatIfInfo|null}
 */
export function removableWhatif(index, id) {
  const n = id === null ? undefined : index.byId.get(id);
  return n?.kind === "cut" && n.whatif?.removable ? n.whatif : null;
}

/**
 * What the drawing made with `options` shows while cut `cutId` is toggled off. Null when that node is
 * not a removable cut.
 * @param {GraphIndex} index
 * @param {ViewOptions} options
 * @param {string} cutId
 * @returns {WhatIfMarks|null}
 */
export function whatifMarks(index, options, cutId) {
  const what = removableWhatif(index, cutId);
  if (!what) return null;
  /** @type {Map<string, {reached: string[], still: string[]}>} */
  const byItem = new Map();
  /** @param {string} id @param {"reached"|"still"} kind */
  const add = (id, kind) => {
    if (!index.byId.has(id)) return;
    const drawn = drawnAs(index, options, id);
    const entry = byItem.get(drawn) ?? { reached: [], still: [] };
    entry[kind].push(id);
    byItem.set(drawn, entry);
  };
  for (const id of what.reached) add(id, "reached");
  for (const id of Object.keys(what.still)) add(id, "still");

  // the problem parameters each box stands for: a box is "reached" only when all of them would be
  /** @type {Map<string, number>} */
  const problems = new Map();
  for (const n of index.byId.values()) {
    if (n.kind === "op" || !isProblem(n)) continue;
    const drawn = drawnAs(index, options, n.id);
    if (drawn !== n.id && byItem.has(drawn)) problems.set(drawn, (problems.get(drawn) ?? 0) + 1);
  }
  /** @type {Map<string, ItemMark>} */
  const items = new Map();
  for (const [drawn, { reached, still }] of byItem) {
    const box = index.byId.get(drawn) === undefined;
    const whole = !box || (problems.get(drawn) ?? 0) <= reached.length;
    const kind = reached.length ? (whole ? "reached" : "partly") : "still";
    items.set(drawn, { kind, reached, still, tip: tipOf(index, what, box, kind, reached, still, problems.get(drawn) ?? 0) });
  }
  const marker = drawnAs(index, options, cutId) === cutId ? cutId : null;
  return { cut: cutId, marker, items };
}

/**
 * @param {GraphIndex} index
 * @param {WhatIfInfo} what
 * @param {boolean} box   the item stands for several nodes
 * @param {ItemMark["kind"]} kind
 * @param {string[]} reached
 * @param {string[]} still
 * @param {number} problems   problem parameters the box stands for
 */
function tipOf(index, what, box, kind, reached, still, problems) {
  if (!box) {
    const id = reached[0] ?? still[0];
    const name = nameOf(index, id);
    return kind === "reached"
      ? `${name}: would be reached without the cut (it ${ZERO_NOTE})`
      : `${name}: still not reached without the cut: ${what.still[id]}`;
  }
  const lines = [];
  if (reached.length) lines.push(`${count(reached.length)} would be reached without the cut (a reached parameter ${ZERO_NOTE})`);
  if (still.length) lines.push(`${count(still.length)} would still not be reached without the cut`);
  const others = problems - reached.length - still.length;
  if (kind === "partly" && others > 0) lines.push(`${count(others)} not behind this cut keep their colour`);
  return lines.join("\n");
}

/** @param {number} n */
const count = (n) => (n === 1 ? "1 parameter here" : `${n} parameters here`);

/**
 * @param {GraphIndex} index
 * @param {string} id
 */
const nameOf = (index, id) => {
  const n = index.byId.get(id);
  return n?.tensor?.name ?? n?.label ?? id;
};

/**
 * Draw `marks` on the shown drawing (null: take every what-if mark off, giving the drawing back exactly).
 * @param {SVGSVGElement|null} svg
 * @param {Map<string, SVGGElement>} nodes   DOT id -> node group (SvgView.nodes)
 * @param {WhatIfMarks|null} marks
 */
export function drawWhatif(svg, nodes, marks) {
  if (!svg) return;
  for (const el of svg.querySelectorAll("[data-gv-whatif-added]")) el.remove();
  for (const el of svg.querySelectorAll("[data-gv-whatif]")) {
    el.classList.remove(...CLASSES);
    el.removeAttribute("data-gv-whatif");
    el.removeAttribute("data-gv-reached");
  }
  if (!marks) return;
  const marker = marks.marker === null ? undefined : nodes.get(marks.marker);
  if (marker) {
    mark(marker, "gv-whatif-off");
    strike(marker);
    tip(marker, "This cut is toggled off: the graph shows what removing it would reach.");
    for (const edge of svg.querySelectorAll("g.edge")) {
      const [source, target] = (edge.querySelector(":scope > title")?.textContent ?? "").split("->");
      if (source === marks.marker || target === marks.marker) mark(edge, "gv-whatif-off");
    }
  }
  for (const [id, item] of marks.items) {
    const g = nodes.get(id);
    if (!g) continue;
    mark(g, `gv-whatif-${item.kind}`);
    if (item.reached.length) g.setAttribute("data-gv-reached", item.reached.join(" "));
    tip(g, item.tip);
  }
}

/** @param {Element} el @param {string} cls */
function mark(el, cls) {
  el.classList.add(cls);
  el.setAttribute("data-gv-whatif", "");
}

/**
 * A line through the marker's label: the cut, crossed out.
 * @param {SVGGElement} g
 */
function strike(g) {
  let box;
  try {
    box = g.getBBox();
  } catch {
    return; // not rendered: nothing to measure
  }
  if (!box.width) return;
  const y = box.y + box.height / 2;
  const line = s("line", { x1: box.x + 4, y1: y, x2: box.x + box.width - 4, y2: y, class: "gv-whatif-strike", "data-gv-whatif-added": "" });
  g.append(line);
}

/**
 * Words on hover over a node's shapes and text (its group's own <title> stays its DOT id: clicks read it).
 * @param {SVGGElement} g
 * @param {string} text
 */
function tip(g, text) {
  for (const part of g.querySelectorAll(":scope > :is(polygon, path, ellipse, text)")) {
    const title = s("title", { "data-gv-whatif-added": "" });
    title.textContent = text;
    part.prepend(title);
  }
}

/**
 * @typedef {object} WhatIfControl   what the inspector needs to show and toggle a what-if
 * @property {string|null} active    the cut marker toggled off (null: none)
 * @property {(id: string|null) => void} set   toggle this cut off (null: put it back)
 */

/**
 * The inspector's what-if section: on a cut marker, its what-if in words and the toggle (none when the
 * cut cannot be removed); on a parameter while a cut is toggled off, what that would mean for it.
 * @param {GraphNode} n
 * @param {GraphIndex} index
 * @param {WhatIfControl|undefined} control
 * @param {(id: string) => void} reveal
 */
export function whatifSection(n, index, control, reveal) {
  if (n.kind === "cut" && n.whatif) return cutSection(n, n.whatif, index, control, reveal);
  return whatifNote([n.id], index, control);
}

/**
 * While a cut is toggled off: what that means for these parameters (a node's, a group's), in words.
 * Null when no cut is toggled off or it names none of them.
 * @param {string[]} ids
 * @param {GraphIndex} index
 * @param {WhatIfControl|undefined} control
 */
export function whatifNote(ids, index, control) {
  const active = control?.active ?? null;
  const what = removableWhatif(index, active);
  if (!what || active === null) return null;
  const cut = index.byId.get(active);
  const at = cut ? ` (${cut.label.split("\n")[0]})` : "";
  const reached = ids.filter((id) => what.reached.includes(id));
  const still = ids.filter((id) => Object.prototype.hasOwnProperty.call(what.still, id));
  if (!reached.length && !still.length) return null;
  const lines =
    ids.length === 1
      ? [reached.length ? `Would be reached without the cut${at}; it ${ZERO_NOTE}.` : `Still not reached without the cut${at}: ${what.still[ids[0]]}.`]
      : [
          reached.length > 0 && `${reached.length} of these ${ids.length} would be reached without the cut${at}; a reached parameter ${ZERO_NOTE}.`,
          still.length > 0 && `${still.length} of them would still not be reached: ${[...new Set(still.map((id) => what.still[id]))].join("; ")}.`,
        ];
  const cls = reached.length ? "gv-whatif gv-whatif-note" : "gv-whatif gv-whatif-note gv-whatif-note-still";
  return h("section", { class: cls }, lines.map((line) => line && h("p", {}, line)));
}

/**
 * @param {GraphNode} n
 * @param {WhatIfInfo} what
 * @param {GraphIndex} index
 * @param {WhatIfControl|undefined} control
 * @param {(id: string) => void} reveal
 */
function cutSection(n, what, index, control, reveal) {
  const off = control?.active === n.id;
  /** @param {string} id */
  const link = (id) => h("button", { type: "button", class: "gv-link", onclick: () => reveal(id) }, nameOf(index, id));
  const still = Object.entries(what.still);
  return h(
    "section",
    { class: "gv-whatif" },
    h("h4", {}, "Without this cut"),
    h("p", { class: "gv-message" }, richText(what.text)),
    what.removable &&
      control &&
      h(
        "button",
        { type: "button", class: "gv-button gv-whatif-toggle", "aria-pressed": String(off), onclick: () => control.set(off ? null : n.id) },
        off ? "Put the cut back" : "What if this cut were removed?",
      ),
    off && what.reached.length > 0 && [h("h4", {}, `Would be reached (${what.reached.length})`), h("ul", { class: "gv-links" }, what.reached.map((id) => h("li", {}, link(id))))],
    off && still.length > 0 && [
      h("h4", {}, `Still not reached (${still.length})`),
      h("ul", { class: "gv-links" }, still.map(([id, why]) => h("li", {}, link(id), h("span", { class: "gv-muted" }, `: ${why}`)))),
    ],
  );
}
