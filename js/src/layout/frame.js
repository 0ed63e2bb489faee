// Where a view of a drawing goes: pure geometry on boxes in viewBox units (svg-view.js measures them).
//
// NOTE [framing]: a view (w x h units) of a drawing larger than it is placed so that
//   1. what it must show (the problem, or the loss) stays inside;
//   2. it never shows past the drawing's edges when the drawing is wider (taller) than the view: the
//      canvas is covered by the drawing, not by the blank beyond it (the NaN trace of a GPT opened
//      centred on its marker, a third of the canvas right of the drawing's edge);
//   3. its edges fall in the gaps between nodes where it can: a node cut at the left or top edge
//      (where a reader starts) costs twice one cut at the right or bottom. It moves by at most
//      SNAP_SHARE of the view for that, and zooms out by up to ZOOM_SHARE (never below the
//      readable scale) when moving is not enough (the top of a tall drawing stays where it is).
//      The drawing's own start (its top: the loss) is taken when what must show is in the first three
//      quarters of a view placed there (at the cost of at most one more cut node at the far edge).
// A drawing that fits in one direction is centred in it. Across, what counts is the part of the
// drawing at the view's height (spanAcross): a tall drawing is often narrow where the problem is and
// wide elsewhere, and a view that placed and zoomed by the whole width showed a narrow column beside
// blank canvas. A module box whose whole height is in that part counts too (its sides are not cut off).
// A first view zooms in as far as that part still fits the canvas's width (up to the fit scale): the
// largest such scale, so that framing the same problem again on a canvas narrowed to that part (app.js
// frame) finds the same view, not a smaller scale over a taller, wider band.

/** @typedef {{x: number, y: number, w: number, h: number}} Box */

const SNAP_SHARE = 0.25; // how far (share of the view's size) a view may move to avoid cutting nodes
const SNAP_STEP = 2; // viewBox units between the positions tried
const GAP = 4; // units kept between a view's edge and the nearest whole node
const ZOOM_SHARE = 0.1; // a view that cannot avoid cutting nodes may zoom out by up to this share ...
const ZOOM_STEPS = 10; // ... tried in this many steps
const PAD_ACROSS = 8; // units kept each side of the nodes a view is placed over
const FILL_ROUNDS = 12; // a zoom changes the band a view covers, so its width: settle in a few rounds

/**
 * The view's top-left corner: `view` (its w and h) over `bounds`, showing `must`, cutting as few
 * `nodes` as it can (NOTE [framing]).
 * @param {{bounds: Box, view: {w: number, h: number}, must: Box, nodes: Box[]}} args
 * @returns {{x: number, y: number, cuts: number}}  `cuts`: the nodes it cuts, weighted as in NOTE [framing]
 */
export function placeView({ bounds, view, must, nodes }) {
  const x = place1d(bounds.x, bounds.w, view.w, must.x, must.w, nodes.map((n) => [n.x, n.x + n.w]));
  const y = place1d(bounds.y, bounds.h, view.h, must.y, must.h, nodes.map((n) => [n.y, n.y + n.h]));
  const cut = cutNodes({ x, y, ...view }, nodes);
  return { x, y, cuts: 2 * (cut.left + cut.top) + cut.right + cut.bottom };
}

/**
 * The scale, of `scale` and up to ZOOM_SHARE below it (never below `lo`), whose placed view cuts the
 * fewest nodes (the largest of equals), and that view.
 * @param {{bounds: Box, size: {width: number, height: number}, must: Box, nodes: Box[], scale: number, lo: number}} args
 * @returns {Box}
 */
export function frameView({ bounds, size, must, nodes, scale, lo }) {
  /** @type {Box|null} */
  let best = null;
  let bestCuts = Infinity;
  for (let i = 0; i <= ZOOM_STEPS; i++) {
    const s = scale * (1 - (ZOOM_SHARE * i) / ZOOM_STEPS);
    if (i > 0 && s < lo) break;
    const view = { w: size.width / s, h: size.height / s };
    const { x, y, cuts } = placeView({ bounds, view, must, nodes });
    if (cuts < bestCuts) [best, bestCuts] = [{ x, y, ...view }, cuts];
    if (cuts === 0) break;
  }
  return /** @type {Box} */ (best);
}

/**
 * One direction of placeView: the start of a window of `size` over [lo, lo + span], holding
 * [mustLo, mustLo + mustSpan] (its centre, if it is larger than the window).
 * @param {number} lo
 * @param {number} span
 * @param {number} size
 * @param {number} mustLo
 * @param {number} mustSpan
 * @param {[number, number][]} intervals  the nodes, as [start, end]
 */
export function place1d(lo, span, size, mustLo, mustSpan, intervals) {
  if (span <= size) return lo + span / 2 - size / 2; // fits: centred
  const first = lo;
  const last = lo + span - size;
  const ideal = clamp(mustLo + mustSpan / 2 - size / 2, first, last);
  // the range of starts that keep `must` in view (its centre if it is larger than the window)
  const keepLo = mustSpan <= size ? mustLo + mustSpan - size : mustLo + mustSpan / 2 - size / 2;
  const keepHi = mustSpan <= size ? mustLo : mustLo + mustSpan / 2 - size / 2;
  const reach = size * SNAP_SHARE;
  const from = clamp(Math.max(ideal - reach, keepLo), first, last);
  const to = clamp(Math.min(ideal + reach, keepHi), first, last);
  let best = ideal;
  let bestCost = cost(ideal, size, intervals, ideal, reach);
  for (let s = from; s <= to; s += SNAP_STEP) {
    const c = cost(s, size, intervals, ideal, reach);
    if (c < bestCost) [best, bestCost] = [s, c];
  }
  // the drawing's own start is better than the ideal when `must` is whole and its centre not in the last
  // SNAP_SHARE of the view from there: the top is the loss, where a reader starts (tutorial 05 opened a
  // few ranks below it, the loss cut off above its problem)
  const near = keepLo <= first && mustLo + mustSpan / 2 - first <= size * (1 - SNAP_SHARE);
  if (near && cost(first, size, intervals, first, reach) <= bestCost + 1) return first;
  return best;
}

/**
 * Nodes cut by a window [start, start + size] (the start's cuts count twice), plus a little for
 * moving away from the ideal start (ties go to the nearest).
 * @param {number} start
 * @param {number} size
 * @param {[number, number][]} intervals
 * @param {number} ideal
 * @param {number} reach
 */
function cost(start, size, intervals, ideal, reach) {
  const end = start + size;
  let c = Math.abs(start - ideal) / (reach + 1) / 2;
  for (const [a, b] of intervals) {
    if (a - GAP < start && b + GAP > start) c += 2;
    if (a - GAP < end && b + GAP > end) c += 1;
  }
  return c;
}

/**
 * Nodes a view cuts (partly inside, partly outside), by the side they stick out of.
 * @param {Box} view
 * @param {Box[]} nodes
 */
export function cutNodes(view, nodes) {
  const cut = { left: 0, top: 0, right: 0, bottom: 0 };
  for (const n of nodes) {
    const meets = n.x < view.x + view.w && n.x + n.w > view.x && n.y < view.y + view.h && n.y + n.h > view.y;
    if (!meets) continue;
    if (n.x < view.x) cut.left++;
    if (n.y < view.y) cut.top++;
    if (n.x + n.w > view.x + view.w) cut.right++;
    if (n.y + n.h > view.y + view.h) cut.bottom++;
  }
  return cut;
}

/**
 * The horizontal extent ({x, w}, with PAD_ACROSS each side) of the nodes that reach into the band
 * [top, bottom] and of the `boxes` (module boxes) that lie wholly inside it, or null if no node does.
 * @param {Box[]} nodes
 * @param {number} top
 * @param {number} bottom
 * @param {Box[]} [boxes]
 * @returns {{x: number, w: number}|null}
 */
export function spanAcross(nodes, top, bottom, boxes = []) {
  let left = Infinity;
  let right = -Infinity;
  for (const n of nodes) {
    if (n.y + n.h < top || n.y > bottom) continue;
    left = Math.min(left, n.x);
    right = Math.max(right, n.x + n.w);
  }
  if (left > right) return null;
  for (const b of boxes) {
    if (b.y < top || b.y + b.h > bottom) continue;
    left = Math.min(left, b.x);
    right = Math.max(right, b.x + b.w);
  }
  return { x: left - PAD_ACROSS, w: right - left + 2 * PAD_ACROSS };
}

/**
 * The largest scale, between `base` and `top` (each at least `base`), at which the part of the drawing
 * at the view's height still fits the view's width, the view showing `must` on a drawing within
 * `bounds`, and the extent across that it should be placed over (NOTE [framing]). From `top` down: a
 * smaller scale shows a taller band, never a narrower one, so the first scale that fits is the largest.
 * @param {{bounds: Box, size: {width: number, height: number}, must: Box, nodes: Box[], boxes?: Box[], base: number, top: number}} args
 * @returns {{scale: number, across: {x: number, w: number}}}
 */
export function fillAcross({ bounds, size, must, nodes, boxes = [], base, top }) {
  let scale = Math.max(base, top);
  let across = { x: bounds.x, w: bounds.w };
  for (let i = 0; i < FILL_ROUNDS; i++) {
    const h = size.height / scale;
    const cy = clamp(must.y + must.h / 2, bounds.y + h / 2, bounds.y + bounds.h - h / 2);
    const span = spanAcross(nodes, cy - h / 2, cy + h / 2, boxes);
    if (!span) break;
    const left = Math.min(span.x, must.x);
    across = { x: left, w: Math.max(span.x + span.w, must.x + must.w) - left };
    const next = clamp(size.width / across.w, base, scale);
    if (scale - next < 1e-3) break;
    scale = next;
  }
  return { scale, across };
}

/** @param {number} v @param {number} lo @param {number} hi */
export const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
