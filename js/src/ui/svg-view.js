// Shows Graphviz's SVG and handles pan (drag), zoom (Ctrl/⌘ + wheel, or wheel once the graph was
// clicked), fit and centring by editing the viewBox. Graphviz puts each DOT id in the <title> of
// its node or cluster group; that is how clicks map back to state ids.
//
// NOTE [readable scale]: labels are drawn at 10 pt, one viewBox unit per pixel at scale 1. No view
// ever goes below MIN_SCALE, so text is never smaller than 10 * MIN_SCALE px on screen: past that,
// fitting and zooming out stop and the user pans instead. A display scale (setDisplayScale, for
// projectors) multiplies every bound: at 1.5, labels stay >= 13.8 px.
// Where a view goes in a drawing larger than it: layout/frame.js, NOTE [framing].
import { clamp, fillAcross, frameView } from "../layout/frame.js";
import { clearTitles } from "../layout/titles.js";

/** Fewest screen pixels per viewBox unit (10 pt labels stay >= 9.2 px high). */
export const MIN_SCALE = 0.92;
const MAX_SCALE = 4;
const MAX_FIT_SCALE = 1.25; // small graphs are not blown up past this when fitted
const FOCUS_MAX_SCALE = 1; // a first view that zooms on a problem shows it at natural size
const FOCUS_PADDING = 24; // viewBox units kept around what a first view focuses on, when choosing its scale ...
const MUST_PADDING = 8; // ... and at least this, when placing it (room to move its edges between nodes)
const ZOOM_PER_PIXEL = 0.0015;
const DRAG_THRESHOLD = 4; // px of movement before a press counts as a pan, not a click
const UNSAFE_ELEMENTS = "script, foreignObject, iframe";
const SAME_VIEW = 0.5; // viewBox units: a fit that moves the view less than this changed nothing

/** @typedef {{x: number, y: number, w: number, h: number}} Box   in viewBox units */
/** @typedef {"whole"|"part"|"already"} FitResult  the whole drawing in view, as much as stays readable, or no change */

/**
 * A listener entry for add/removeEventListener, its event typed by the event's name.
 * @template {keyof HTMLElementEventMap} K
 * @param {K} type
 * @param {(e: HTMLElementEventMap[K]) => void} fn
 * @param {AddEventListenerOptions} [opts]
 * @returns {[string, EventListener, AddEventListenerOptions|undefined]}
 */
const listener = (type, fn, opts) => [type, /** @type {EventListener} */ (fn), opts];

export class SvgView {
  /**
   * @param {HTMLElement} host
   * @param {{onNode: (id: string) => void, onClusterTitle: (clusterId: string) => void, onPlainWheel?: () => void}} handlers
   */
  constructor(host, handlers) {
    this.host = host;
    this.handlers = handlers;
    /** @type {SVGSVGElement|null} */
    this.svg = null;
    /** @type {Map<string, SVGGElement>} DOT id -> node group */
    this.nodes = new Map();
    /** @type {Map<string, SVGGElement>} DOT cluster id -> cluster group */
    this.clusters = new Map();
    /** @type {Box|null} the whole drawing */
    this.bounds = null;
    /** @type {Box|null} the current viewBox */
    this.box = null;
    /** @type {{x: number, y: number, box: Box, scale: number, id: number}|null} pointer-down position while a drag may be starting */
    this.press = null;
    this.moved = false;
    this.armed = false; // clicked: a plain wheel zooms until the pointer leaves the graph
    this.display = 1; // the display scale (ui/scale.js): every scale bound below is multiplied by it
    this.framed = 0; // px across of what the latest first view framed (framedWidth)
    /** @type {Set<(box: Box) => void>} called on every change of the view (the overview follows it) */
    this.watchers = new Set();

    this.listeners = [
      listener("wheel", (e) => this.#onWheel(e), { passive: false }),
      listener("pointerdown", (e) => this.#onPointerDown(e)),
      listener("pointermove", (e) => this.#onPointerMove(e)),
      listener("pointerup", () => this.#onPointerUp()),
      listener("pointercancel", () => this.#onPointerUp()),
      listener("pointerleave", () => this.#arm(false)),
      listener("focusout", () => this.#arm(false)),
      listener("keydown", (e) => e.key === "Escape" && this.#arm(false)),
      listener("click", (e) => this.#onClick(e)),
    ];
    for (const [type, fn, opts] of this.listeners) host.addEventListener(type, fn, opts);
    // Keep the scale and the centre when the notebook is resized.
    this.resizer = typeof ResizeObserver === "function" ? new ResizeObserver(() => this.#onResize()) : null;
    this.resizer?.observe(host);
    /** @type {{width: number, height: number}|null} host size when the viewBox was set */
    this.size = null;
  }

  /**
   * Replace the drawing with `svgText` (Graphviz output). Throws if it does not parse.
   * @param {string} svgText
   */
  show(svgText) {
    const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
    /** @type {Element} */
    const svg = doc.documentElement;
    if (svg.nodeName !== "svg" || doc.querySelector("parsererror")) throw new Error("Graphviz returned SVG that does not parse.");
    sanitize(svg);
    const [x, y, w, h] = (svg.getAttribute("viewBox") ?? "0 0 100 100").split(/[\s,]+/).map(Number);
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("class", "gv-svg");
    svg.setAttribute("role", "img");

    this.svg = /** @type {SVGSVGElement} */ (document.importNode(svg, true)); // an <svg>: checked above
    this.nodes = titled(this.svg, "g.node");
    this.clusters = titled(this.svg, "g.cluster");
    this.bounds = { x, y, w, h };
    /** @type {Box[]|null} the nodes' boxes, measured once the drawing is rendered */
    this.nodeBoxes = null;
    this.host.replaceChildren(this.svg);
    // module titles clear of edges (layout/titles.js), at their drawn width once shown (0: hidden)
    clearTitles(this.svg, textWidth);
    this.overview();
  }

  /**
   * Height in px that shows the drawing at the scale `fit` would use, within [min, max].
   * @param {number} min
   * @param {number} max
   */
  preferredHeight(min, max) {
    if (!this.bounds) return min;
    const { width } = this.#hostSize();
    const scale = clamp(width / this.bounds.w, this.#lo(), this.#fitMax());
    return Math.round(clamp(this.bounds.h * scale + 16, min, Math.max(min, max)));
  }

  /** Width in px the drawing takes at the largest scale a fit uses (its canvas need not be wider). */
  preferredWidth() {
    return this.bounds ? Math.round(this.bounds.w * this.#fitMax() + 16) : 0;
  }

  /** True when the whole drawing is readable in view. */
  fitsWhole() {
    if (!this.bounds) return true;
    const { width, height } = this.#hostSize();
    return Math.min(width / this.bounds.w, height / this.bounds.h) >= this.#lo();
  }

  /** The whole drawing if it is readable in view; else its top (the loss) as wide as it can be shown. */
  overview() {
    if (!this.bounds) return;
    const { x, y, w, h } = this.bounds;
    const { width, height } = this.#hostSize();
    if (Math.min(width / w, height / h) >= this.#lo()) return void this.fit();
    this.#fill({ x: x + w / 2, y, w: 0, h: 1 }, this.#lo(), this.#fitMax());
  }

  /**
   * First view: the whole drawing when it is readable in view; otherwise `elements` (what is wrong) at
   * a readable scale: all of them if they fit together, else the first, zoomed in as far as fills the
   * canvas with the drawing (up to the fit scale). Without elements, the overview.
   * @param {SVGGraphicsElement[]} elements
   */
  focus(elements) {
    if (!this.bounds) return;
    const { w, h } = this.bounds;
    const { width, height } = this.#hostSize();
    const boxes = elements.map((el) => this.#boxOf(el)).filter((b) => b !== null);
    if (Math.min(width / w, height / h) >= this.#lo() || !boxes.length) return this.overview();
    /** @param {Box} b */
    const pad = (b) => ({ x: b.x - FOCUS_PADDING, y: b.y - FOCUS_PADDING, w: b.w + 2 * FOCUS_PADDING, h: b.h + 2 * FOCUS_PADDING });
    let core = union(boxes);
    if (Math.min(width / pad(core).w, height / pad(core).h) < this.#lo()) core = boxes[0];
    const area = pad(core); // the scale keeps FOCUS_PADDING around what is wrong; placing it, MUST_PADDING
    const whole = Math.min(width / area.w, height / area.h); // the largest scale that keeps `area` in view
    const must = { x: core.x - MUST_PADDING, y: core.y - MUST_PADDING, w: core.w + 2 * MUST_PADDING, h: core.h + 2 * MUST_PADDING };
    this.#fill(must, clamp(whole, this.#lo(), this.#focusMax()), Math.min(whole, this.#fitMax()));
  }

  /**
   * The whole drawing in view, not enlarged beyond MAX_FIT_SCALE. A drawing too big to read whole is
   * shown at MIN_SCALE around the current centre (the user pans, or clicks the overview, for the rest).
   * @returns {FitResult}
   */
  fit() {
    if (!this.bounds) return "already";
    const before = this.box;
    const { x, y, w, h } = this.bounds;
    const { width, height } = this.#hostSize();
    const scale = Math.min(width / w, height / h, this.#fitMax());
    const whole = scale >= this.#lo();
    this.framed = whole ? w * scale : 0;
    if (whole) this.#showAt(x + w / 2, y + h / 2, scale);
    else {
      const c = this.box ? this.#center(this.box) : { x: x + w / 2, y };
      this.#frame({ x: c.x, y: c.y, w: 0, h: 0 }, this.#lo());
    }
    const after = /** @type {Box} */ (this.box);
    const moved = before ? Math.max(Math.abs(before.x - after.x), Math.abs(before.y - after.y), Math.abs(before.w - after.w)) : Infinity;
    const same = moved < SAME_VIEW;
    return same ? "already" : whole ? "whole" : "part";
  }

  /** @returns {{w: number, h: number}} the drawing's size in px at the smallest readable scale */
  readableSize() {
    const s = this.#lo();
    return { w: (this.bounds?.w ?? 0) * s, h: (this.bounds?.h ?? 0) * s };
  }

  /**
   * Show `must` at `base` or zoomed in up to `top`, as far as fills the canvas's width with the part of
   * the drawing beside it, placed over that part (NOTE [framing]).
   * @param {Box} must
   * @param {number} base
   * @param {number} top
   */
  #fill(must, base, top) {
    if (!this.bounds) return;
    const nodes = this.#nodeBoxes();
    const boxes = [...this.clusters.values()].map((g) => this.#boxOf(g)).filter((b) => b !== null);
    const { scale, across } = fillAcross({ bounds: this.bounds, size: this.#hostSize(), must, nodes, boxes, base, top });
    this.#frame(must, scale, { ...this.bounds, ...across });
    this.framed = across.w * this.scale();
  }

  /** Width in px of the part of the drawing the latest first view was placed over (0: the whole drawing). */
  framedWidth() {
    return this.framed;
  }

  /**
   * Show `must` at `scale` (clamped to the bounds, a little less if that cuts fewer nodes), the view
   * placed over `over` (the drawing, or the part of it across from `must`) by NOTE [framing].
   * @param {Box} must
   * @param {number} scale
   * @param {Box} [over]
   */
  #frame(must, scale, over = this.bounds ?? undefined) {
    if (!over) return;
    const s = clamp(scale, this.#lo(), this.#hi());
    this.#setBox(frameView({ bounds: over, size: this.#hostSize(), must, nodes: this.#nodeBoxes(), scale: s, lo: this.#lo() }));
  }

  /** The drawn nodes' boxes in viewBox units (none while the drawing is not rendered). */
  #nodeBoxes() {
    if (this.nodeBoxes) return this.nodeBoxes;
    const boxes = [...this.nodes.values()].map((g) => this.#boxOf(g)).filter((b) => b !== null);
    if (boxes.length === this.nodes.size) this.nodeBoxes = boxes; // measured: keep them for this drawing
    return boxes;
  }

  /**
   * Bring `el` into view (centred, unless that would show past the drawing's edges or cut nodes),
   * zooming in to a readable scale if the view is zoomed far out.
   * @param {SVGGraphicsElement|null|undefined} el
   */
  centerOn(el, minScale = this.#lo()) {
    const b = el ? this.#boxOf(el) : null;
    if (!b) return;
    this.#frame(b, Math.max(this.scale(), minScale, this.#lo()));
  }

  /**
   * Call `fn` with the view's box whenever the view changes; returns the function that stops it.
   * @param {(box: Box) => void} fn
   */
  onViewChange(fn) {
    this.watchers.add(fn);
    return () => void this.watchers.delete(fn);
  }

  /**
   * Centre the view on (x, y) in the drawing's units, at the current scale, as far as NOTE [framing]
   * lets it (never past the drawing's edges; its edges between nodes).
   * @param {number} x
   * @param {number} y
   */
  centerAt(x, y) {
    if (!this.box || !this.bounds) return;
    const s = this.scale();
    this.#setBox(frameView({ bounds: this.bounds, size: this.#hostSize(), must: { x, y, w: 0, h: 0 }, nodes: this.#nodeBoxes(), scale: s, lo: s }));
  }

  /** Screen pixels per viewBox unit now. */
  scale() {
    if (!this.box) return 1;
    const { width, height } = this.#hostSize();
    return Math.min(width / this.box.w, height / this.box.h);
  }

  /**
   * Put `className` on exactly the node groups whose ids are given.
   * @param {string} className
   * @param {Iterable<string>} ids
   */
  mark(className, ids) {
    if (!this.svg) return;
    for (const el of this.svg.querySelectorAll(`.${className}`)) el.classList.remove(className);
    for (const id of ids) (this.nodes.get(id) ?? this.clusters.get(id))?.classList.add(className);
  }

  /**
   * Draw everything `display` times larger (1 = natural): the view keeps its centre, and zooms by the
   * ratio of the new display scale to the old.
   * @param {number} display
   */
  setDisplayScale(display) {
    const ratio = display / this.display;
    this.display = display;
    if (!this.box || !this.size || ratio === 1) return;
    // the scale the view was set at: the host may already have changed size (the zoomed inspector)
    const before = Math.min(this.size.width / this.box.w, this.size.height / this.box.h);
    const c = this.#center(this.box);
    this.#showAt(c.x, c.y, before * ratio);
  }

  // The scale bounds at the current display scale (NOTE [readable scale]).
  #lo() {
    return MIN_SCALE * this.display;
  }

  #hi() {
    return MAX_SCALE * this.display;
  }

  #fitMax() {
    return MAX_FIT_SCALE * this.display;
  }

  #focusMax() {
    return FOCUS_MAX_SCALE * this.display;
  }

  destroy() {
    for (const [type, fn, opts] of this.listeners) this.host.removeEventListener(type, fn, opts);
    this.resizer?.disconnect();
    this.host.replaceChildren();
  }

  #hostSize() {
    return { width: this.host.clientWidth || 600, height: this.host.clientHeight || 400 };
  }

  /** @param {Box} box */
  #center(box) {
    return { x: box.x + box.w / 2, y: box.y + box.h / 2 };
  }

  /**
   * View centred on (cx, cy) at `scale` px per unit, filling the host.
   * @param {number} cx
   * @param {number} cy
   * @param {number} scale
   */
  #showAt(cx, cy, scale) {
    const { width, height } = this.#hostSize();
    const s = clamp(scale, this.#lo(), this.#hi());
    const w = width / s;
    const h = height / s;
    this.#setBox({ x: cx - w / 2, y: cy - h / 2, w, h });
  }

  /** @param {Box} box */
  #setBox(box) {
    this.box = box;
    this.size = this.#hostSize();
    this.svg?.setAttribute("viewBox", `${box.x} ${box.y} ${box.w} ${box.h}`);
    for (const fn of this.watchers) fn(box);
  }

  #onResize() {
    if (!this.box || !this.size) return;
    const { width, height } = this.#hostSize();
    if (width === this.size.width && height === this.size.height) return;
    const scale = Math.min(this.size.width / this.box.w, this.size.height / this.box.h);
    const c = this.#center(this.box);
    this.#showAt(c.x, c.y, scale);
  }

  /**
   * Bounding box of `el` in viewBox units (through any transforms Graphviz added).
   * @param {SVGGraphicsElement} el
   * @returns {Box|null}
   */
  #boxOf(el) {
    if (!this.svg) return null;
    const bb = el.getBBox();
    const [outer, inner] = [this.svg.getScreenCTM(), el.getScreenCTM()];
    if (!outer || !inner) return null; // not rendered (a hidden tab): nothing to measure
    const m = outer.inverse().multiply(inner);
    const p = new DOMPoint(bb.x, bb.y).matrixTransform(m);
    const q = new DOMPoint(bb.x + bb.width, bb.y + bb.height).matrixTransform(m);
    return { x: Math.min(p.x, q.x), y: Math.min(p.y, q.y), w: Math.abs(q.x - p.x), h: Math.abs(q.y - p.y) };
  }

  /**
   * Viewport pixels -> viewBox units (null: the drawing is not rendered).
   * @param {SVGSVGElement} svg
   * @param {number} clientX
   * @param {number} clientY
   */
  #toSvg(svg, clientX, clientY) {
    const ctm = svg.getScreenCTM();
    return ctm && new DOMPoint(clientX, clientY).matrixTransform(ctm.inverse());
  }

  /** @param {boolean} on */
  #arm(on) {
    this.armed = on;
    this.host.classList.toggle("gv-armed", on);
  }

  /** @param {WheelEvent} e */
  #onWheel(e) {
    if (!this.svg || !this.box) return;
    if (!e.ctrlKey && !e.metaKey && !this.armed) {
      this.handlers.onPlainWheel?.(); // the page scrolls; say how to zoom
      return;
    }
    e.preventDefault();
    const f = Math.exp(e.deltaY * ZOOM_PER_PIXEL * (e.deltaMode === 1 ? 16 : 1));
    const now = this.scale();
    const scale = clamp(now / f, this.#lo(), this.#hi());
    if (scale === now) return;
    const k = now / scale;
    const p = this.#toSvg(this.svg, e.clientX, e.clientY);
    if (!p) return;
    const { x, y, w, h } = this.box;
    this.#setBox({ x: p.x - (p.x - x) * k, y: p.y - (p.y - y) * k, w: w * k, h: h * k });
  }

  /** @param {PointerEvent} e */
  #onPointerDown(e) {
    if (!this.svg || e.button !== 0) return;
    this.#arm(true);
    const ctm = this.svg.getScreenCTM();
    if (!ctm || !this.box) return; // not rendered: nothing to pan
    this.press = { x: e.clientX, y: e.clientY, box: { ...this.box }, scale: ctm.a, id: e.pointerId };
    this.moved = false;
  }

  /** @param {PointerEvent} e */
  #onPointerMove(e) {
    if (!this.press) return;
    const dx = e.clientX - this.press.x;
    const dy = e.clientY - this.press.y;
    if (!this.moved && Math.hypot(dx, dy) < DRAG_THRESHOLD) return;
    if (!this.moved) this.host.setPointerCapture?.(this.press.id);
    this.moved = true;
    this.host.classList.add("gv-panning");
    const { box, scale } = this.press;
    this.#setBox({ ...box, x: box.x - dx / scale, y: box.y - dy / scale });
  }

  #onPointerUp() {
    this.press = null;
    this.host.classList.remove("gv-panning");
  }

  /** @param {MouseEvent} e */
  #onClick(e) {
    if (this.moved) {
      this.moved = false;
      return;
    }
    const target = /** @type {Element} */ (e.target);
    const node = target.closest?.("g.node");
    if (node) return this.handlers.onNode(titleOf(node));
    const cluster = target.closest?.("g.cluster");
    if (cluster && target.nodeName === "text") this.handlers.onClusterTitle(titleOf(cluster));
  }
}

/**
 * @param {Box[]} boxes
 * @returns {Box}
 */
function union(boxes) {
  const x = Math.min(...boxes.map((b) => b.x));
  const y = Math.min(...boxes.map((b) => b.y));
  const right = Math.max(...boxes.map((b) => b.x + b.w));
  const bottom = Math.max(...boxes.map((b) => b.y + b.h));
  return { x, y, w: right - x, h: bottom - y };
}

/**
 * The drawn width of an SVG text (0 where the browser cannot measure it: not rendered, or no layout).
 * @param {Element} text
 */
function textWidth(text) {
  const measurable = /** @type {Partial<SVGTextContentElement>} */ (text);
  try {
    return typeof measurable.getComputedTextLength === "function" ? measurable.getComputedTextLength() || 0 : 0;
  } catch {
    return 0;
  }
}

/** @param {Element} g */
const titleOf = (g) => g.querySelector(":scope > title")?.textContent ?? "";

/**
 * Graphviz's node or cluster groups by their DOT id.
 * @param {SVGSVGElement} svg
 * @param {"g.node"|"g.cluster"} selector
 * @returns {Map<string, SVGGElement>}
 */
function titled(svg, selector) {
  const groups = /** @type {NodeListOf<SVGGElement>} */ (svg.querySelectorAll(selector)); // `g.…`: <g> elements
  return new Map([...groups].map((g) => [titleOf(g), g]));
}

/**
 * Defence in depth: Graphviz escapes label text, and nothing active may survive anyway.
 * @param {Element} svg
 */
function sanitize(svg) {
  for (const el of svg.querySelectorAll(UNSAFE_ELEMENTS)) el.remove();
  for (const el of [svg, ...svg.querySelectorAll("*")]) {
    for (const attr of [...el.attributes]) if (/^on|href$/i.test(attr.name)) el.removeAttribute(attr.name);
  }
}
