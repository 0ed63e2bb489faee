// Module titles clear of edges: Graphviz puts a cluster's label at its top left and routes edges
// through it (an edge leaving the cluster upwards from a node under the title: "ln_f", "blocks ·
// ModuleList", "model.norm · LlamaRMSNorm" were struck through). After layout each title moves along
// the top of its box to the first place no edge crosses.
//
// NOTE [clear titles]: Graphviz reserves a band of the label's height at the top of every cluster
// (labelloc=b under rankdir=BT), as wide as the box. Edges cross that band only where they enter or
// leave the box, or pass over it, so there is almost always a gap as wide as the title; the title
// keeps its place when no edge crosses it, and moves to the first gap otherwise (as near the box's
// border as MIN_INSET). If there is none, it drops its parent's path, which the box around it shows
// ("▾ …ln_f · LayerNorm" inside "transformer"; "▾ …mlp.0 · Linear", an index keeping its name), then its
// type ("▾ …ln_f"); the whole title stays in its
// tooltip, and in the text a page search or a test reads. A box only as
// wide as its title (a module of one or two nodes: the edge leaving its top node runs up the middle)
// has no such gap: there the title stays and the edges that cross it are bent around it instead,
// through the margin Graphviz keeps between the title and the box's border (BOX_INSET), on the side
// nearer to them, leaving the band DETOUR_REACH below and joining their own course again above it.
// Graphviz writes the label centred on x (text-anchor=middle) at its own estimate of the text's width,
// which is what the box was sized for: that estimate is the width kept clear, plus TITLE_CLEARANCE.

/** @typedef {[number, number]} Point */

const TITLE_CLEARANCE = 2.5; // units between a title and the nearest edge
const BOX_INSET = 8; // Graphviz's margin between a cluster's border and its label
const MIN_INSET = 3; // the least margin a moved title keeps from its box's border
const SVG_NS = "http://www.w3.org/2000/svg";
const ASCENT = 0.8; // of the font size: the band a title's text covers above its baseline ...
const DESCENT = 0.3; // ... and below it
const SAMPLE_STEP = 1.5; // units between the points sampled along an edge
const DETOUR_REACH = 12; // units below and above a title over which a bent edge leaves and rejoins its course

/**
 * Points along an SVG path as Graphviz writes edges and boxes (M, then cubic C segments; L and Z too).
 * @param {string} d
 * @returns {Point[]}
 */
export function pathPoints(d) {
  /** @type {Point[]} */
  const points = [];
  const tokens = d.match(/[MCLZmclz]|-?\d*\.?\d+(?:e[-+]?\d+)?/g) ?? [];
  let command = "M";
  /** @type {number[]} */
  let numbers = [];
  /** @type {Point} */
  let at = [0, 0];
  const flush = () => {
    if (command === "M" || command === "L") {
      for (let i = 0; i + 1 < numbers.length; i += 2) {
        const p = /** @type {Point} */ ([numbers[i], numbers[i + 1]]);
        if (command === "L") points.push(...line(at, p));
        else points.push(p);
        at = p;
      }
    } else if (command === "C") {
      for (let i = 0; i + 5 < numbers.length; i += 6) {
        const [c1, c2, end] = /** @type {Point[]} */ ([[numbers[i], numbers[i + 1]], [numbers[i + 2], numbers[i + 3]], [numbers[i + 4], numbers[i + 5]]]);
        points.push(...bezier(at, c1, c2, end));
        at = end;
      }
    }
    numbers = [];
  };
  for (const t of tokens) {
    if (/[A-Za-z]/.test(t)) {
      flush();
      command = t.toUpperCase();
    } else numbers.push(Number(t));
  }
  flush();
  return points;
}

/**
 * @param {Point} a
 * @param {Point} b
 * @returns {Point[]}
 */
function line(a, b) {
  const n = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1]) / SAMPLE_STEP));
  return Array.from({ length: n }, (_, i) => /** @type {Point} */ ([a[0] + ((b[0] - a[0]) * (i + 1)) / n, a[1] + ((b[1] - a[1]) * (i + 1)) / n]));
}

/**
 * @param {Point} p0
 * @param {Point} p1
 * @param {Point} p2
 * @param {Point} p3
 * @returns {Point[]}
 */
function bezier(p0, p1, p2, p3) {
  const length = Math.hypot(p1[0] - p0[0], p1[1] - p0[1]) + Math.hypot(p2[0] - p1[0], p2[1] - p1[1]) + Math.hypot(p3[0] - p2[0], p3[1] - p2[1]);
  const n = Math.max(1, Math.ceil(length / SAMPLE_STEP));
  /** @type {Point[]} */
  const out = [];
  for (let i = 0; i <= n; i++) {
    const t = i / n;
    const u = 1 - t;
    const a = u * u * u;
    const b = 3 * u * u * t;
    const c = 3 * u * t * t;
    const e = t * t * t;
    out.push([a * p0[0] + b * p1[0] + c * p2[0] + e * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + e * p3[1]]);
  }
  return out;
}

/**
 * @typedef {object} Title   a cluster's title, in the drawing's units
 * @property {number} x       centre (Graphviz's text-anchor=middle)
 * @property {number} y       baseline
 * @property {number} size    font size
 * @property {number} left    the box's left border
 * @property {number} right   the box's right border
 * @property {number} width   the text's width: as drawn, or Graphviz's estimate, whichever is wider
 */

/**
 * Where `title`'s centre goes: its own x if no edge point is in its way, else the centre of the first
 * gap to the right (or left) in its band wide enough for it; null if there is none.
 * @param {Title} title
 * @param {Point[]} points  every edge's points
 * @returns {number|null}
 */
export function clearSpot(title, points) {
  const width = title.width;
  const top = title.y - title.size * ASCENT;
  const bottom = title.y + title.size * DESCENT;
  const lo = title.left + MIN_INSET;
  const hi = title.right - MIN_INSET;
  const blocked = points
    .filter(([x, y]) => y >= top - TITLE_CLEARANCE && y <= bottom + TITLE_CLEARANCE && x >= lo && x <= hi)
    .map(([x]) => x)
    .sort((a, b) => a - b);
  // free stretches of the band between the blocked points
  let start = lo;
  for (const x of [...blocked, hi + TITLE_CLEARANCE]) {
    const end = Math.min(x - TITLE_CLEARANCE, hi);
    if (end - start >= width) return start + width / 2;
    start = Math.max(start, x + TITLE_CLEARANCE);
  }
  return null;
}

/**
 * The title's box: [left, right] x [top, bottom] (Graphviz's width estimate, no clearance).
 * @param {Title} t
 */
export function titleBox(t) {
  const half = t.width / 2;
  return { left: t.x - half, right: t.x + half, top: t.y - t.size * ASCENT, bottom: t.y + t.size * DESCENT };
}

/**
 * Shorter forms of a title, longest first: without its parent's path, which the box around it shows
 * ("▾ …ln_f · LayerNorm" for "▾ transformer.ln_f · LayerNorm"), then without its type too ("▾ …ln_f").
 * @param {string} title
 * @returns {string[]}
 */
export function shortTitles(title) {
  const m = /^(▾ )(\S+)( · .*)?$/.exec(title);
  if (!m) return [];
  const parts = m[2].split(".");
  // the last part of the path, with the one before it when it is only an index ("…mlp.0", not "…0")
  const keep = parts.length > 2 && /^\d+$/.test(parts[parts.length - 1]) ? 2 : 1;
  const name = parts.length > keep ? `…${parts.slice(-keep).join(".")}` : m[2];
  return [`${m[1]}${name}${m[3] ?? ""}`, `${m[1]}${name}`].filter((t, i, all) => t !== title && all.indexOf(t) === i);
}

/**
 * `points` (an edge's course, upwards or downwards) bent around `title` where it crosses it: through
 * the margin between the title and its box's border on the side nearer to where it crossed (`lane`
 * units further in for the lane-th edge bent there); null when it does not cross the title or one
 * of its ends is at the title.
 * @param {Point[]} points
 * @param {Title} title
 * @param {number} lane
 * @returns {Point[]|null}
 */
export function detour(points, title, lane = 0) {
  const box = titleBox(title);
  const inside = (/** @type {Point} */ [x, y]) => x >= box.left - TITLE_CLEARANCE && x <= box.right + TITLE_CLEARANCE && y >= box.top - TITLE_CLEARANCE && y <= box.bottom + TITLE_CLEARANCE;
  const first = points.findIndex(inside);
  if (first < 0) return null;
  const last = points.length - 1 - [...points].reverse().findIndex(inside);
  const near = (/** @type {number} */ y) => y >= box.top - DETOUR_REACH && y <= box.bottom + DETOUR_REACH;
  let from = first;
  while (from > 0 && near(points[from - 1][1])) from--;
  let to = last;
  while (to < points.length - 1 && near(points[to + 1][1])) to++;
  if (first === 0 || last === points.length - 1) return null; // an end of the edge is at the title
  const crossing = points[first][0];
  const room = BOX_INSET - TITLE_CLEARANCE; // between the title's clearance and the border
  const offset = TITLE_CLEARANCE + Math.min(room / 2 + lane * 1.5, room);
  const side = crossing - box.left < box.right - crossing ? box.left - offset : box.right + offset;
  const down = points[from][1] > points[to][1]; // Graphviz draws BT edges from the tail below to the head above
  const [below, above] = down ? [box.bottom + TITLE_CLEARANCE, box.top - TITLE_CLEARANCE] : [box.top - TITLE_CLEARANCE, box.bottom + TITLE_CLEARANCE];
  return [...points.slice(0, from + 1), ...swing(points[from], [side, below]), ...swing([side, above], points[to]).slice(1), ...points.slice(to + 1)];
}

/**
 * An S-curve from `a` to `b` leaving and arriving upright (cubic, vertical tangents), sampled.
 * @param {Point} a
 * @param {Point} b
 * @returns {Point[]}
 */
function swing(a, b) {
  const mid = (a[1] + b[1]) / 2;
  return bezier(a, [a[0], mid], [b[0], mid], b);
}

/**
 * Clear every cluster title of a Graphviz SVG (parsed, not yet shown) of the edges (NOTE [clear
 * titles]): move it along its band to a gap, else bend the edges that cross it. Returns how many
 * titles moved and how many edges were bent.
 * @param {Element} svg
 * @param {(text: Element) => number} [measure]  a title's drawn width (0: unknown)
 * @returns {{moved: number, bent: number}}
 */
export function clearTitles(svg, measure = () => 0) {
  const edges = [...svg.querySelectorAll("g.edge > path")].map((path) => ({ path, points: pathPoints(path.getAttribute("d") ?? "") }));
  /** @type {Point[]} */
  const points = edges.flatMap((e) => e.points);
  for (const head of svg.querySelectorAll("g.edge > polygon")) points.push(...polygonPoints(head.getAttribute("points") ?? ""));
  let moved = 0;
  /** @type {Set<Element>} */
  const bent = new Set();
  for (const cluster of svg.querySelectorAll("g.cluster")) {
    const text = cluster.querySelector(":scope > text");
    const border = cluster.querySelector(":scope > path, :scope > polygon");
    if (!text || !border) continue;
    const outline = border.tagName === "polygon" ? polygonPoints(border.getAttribute("points") ?? "") : pathPoints(border.getAttribute("d") ?? "");
    const xs = outline.map(([x]) => x);
    const x0 = Number(text.getAttribute("x"));
    if (!xs.length || !Number.isFinite(x0)) continue;
    const left = Math.min(...xs);
    const estimate = 2 * (x0 - left - BOX_INSET); // Graphviz's: the label is left-justified
    /** @type {Title} */
    const title = { x: x0, y: Number(text.getAttribute("y")), size: Number(text.getAttribute("font-size") ?? 10), left, right: Math.max(...xs), width: Math.max(measure(text), estimate) };
    let x = clearSpot(title, points);
    const full = text.textContent ?? "";
    const shorter = x === null ? shortTitles(full) : [];
    for (const short of shorter) {
      // no gap for the whole title: the box around it names the parent, so try without
      text.textContent = short;
      const width = Math.max(measure(text), (estimate * short.length) / full.length);
      x = clearSpot({ ...title, width }, points);
      // in a gap, or (none) narrower for the edges to bend around: left-justified as Graphviz put it
      title.width = width;
      title.x = left + BOX_INSET + width / 2;
      if (x !== null) break;
    }
    if (shorter.length) {
      text.setAttribute("x", String(round(title.x)));
      const tip = text.ownerDocument.createElementNS(SVG_NS, "title");
      tip.textContent = full; // the whole title on hover (and for anything reading the text)
      text.append(tip);
    }
    if (x !== null) {
      if (Math.abs(x - title.x) > 0.01 || shorter.length) moved++;
      text.setAttribute("x", String(round(x)));
      continue;
    }
    let lane = 0;
    for (const e of edges) {
      const course = detour(e.points, title, lane);
      if (!course) continue;
      e.points = course;
      e.path.setAttribute("d", `M${course.map(([px, py]) => `${round(px)},${round(py)}`).join(" L")}`);
      bent.add(e.path);
      lane++;
    }
  }
  return { moved, bent: bent.size };
}

/** @param {number} v */
const round = (v) => Math.round(v * 100) / 100;

/**
 * @param {string} list  an SVG polygon's points attribute
 * @returns {Point[]}
 */
function polygonPoints(list) {
  const n = (list.match(/-?\d*\.?\d+(?:e[-+]?\d+)?/g) ?? []).map(Number);
  /** @type {Point[]} */
  const out = [];
  for (let i = 0; i + 1 < n.length; i += 2) out.push([n[i], n[i + 1]]);
  return out;
}
