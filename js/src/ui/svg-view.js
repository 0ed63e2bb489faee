// Shows Graphviz's SVG and handles pan (drag), zoom (wheel), fit and centring by editing the
// viewBox. Graphviz puts each DOT id in the <title> of its node or cluster group; that is how
// clicks map back to state ids.

const ZOOM_PER_PIXEL = 0.0015;
const MAX_FIT_SCALE = 1.25; // small graphs are not blown up past this when fitted
const MIN_OVERVIEW_SCALE = 0.5; // below this, text is unreadable: the first view shows the top instead
const DRAG_THRESHOLD = 4; // px of movement before a press counts as a pan, not a click
const UNSAFE_ELEMENTS = "script, foreignObject, iframe";

export class SvgView {
  /**
   * @param {HTMLElement} host
   * @param {{onNode: (id: string) => void, onClusterTitle: (clusterId: string) => void}} handlers
   */
  constructor(host, handlers) {
    this.host = host;
    this.handlers = handlers;
    this.svg = null;
    /** @type {Map<string, SVGGElement>} DOT id -> node group */
    this.nodes = new Map();
    /** @type {Map<string, SVGGElement>} DOT cluster id -> cluster group */
    this.clusters = new Map();
    this.bounds = null; // the whole drawing, in viewBox units
    this.box = null; // the current viewBox {x, y, w, h}
    this.press = null; // pointer-down position while a drag may be starting
    this.moved = false;

    this.listeners = [
      ["wheel", (e) => this.#onWheel(e), { passive: false }],
      ["pointerdown", (e) => this.#onPointerDown(e)],
      ["pointermove", (e) => this.#onPointerMove(e)],
      ["pointerup", (e) => this.#onPointerUp(e)],
      ["pointercancel", (e) => this.#onPointerUp(e)],
      ["click", (e) => this.#onClick(e)],
    ];
    for (const [type, fn, opts] of this.listeners) host.addEventListener(type, fn, opts);
  }

  /** Replace the drawing with `svgText` (Graphviz output). Throws if it does not parse. */
  show(svgText) {
    const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
    const svg = doc.documentElement;
    if (svg.nodeName !== "svg" || doc.querySelector("parsererror")) throw new Error("Graphviz returned SVG that does not parse.");
    sanitize(svg);
    const [x, y, w, h] = (svg.getAttribute("viewBox") ?? "0 0 100 100").split(/[\s,]+/).map(Number);
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("class", "gv-svg");
    svg.setAttribute("role", "img");

    this.svg = /** @type {SVGSVGElement} */ (document.importNode(svg, true));
    this.nodes = titled(this.svg, "g.node");
    this.clusters = titled(this.svg, "g.cluster");
    this.bounds = { x, y, w, h };
    this.host.replaceChildren(this.svg);
    this.overview();
  }

  /** First view: the whole drawing if it stays readable, else its top (the loss) at a readable scale. */
  overview() {
    const { x, y, w, h } = this.bounds;
    const { width, height } = this.#hostSize();
    if (Math.min(width / w, height / h) >= MIN_OVERVIEW_SCALE) return this.fit();
    const scale = Math.max(MIN_OVERVIEW_SCALE, Math.min(width / w, 1));
    const vw = width / scale;
    this.#setBox({ x: x + (w - vw) / 2, y, w: vw, h: height / scale });
  }

  /** The whole drawing in view, not enlarged beyond MAX_FIT_SCALE. */
  fit() {
    if (!this.bounds) return;
    const { x, y, w, h } = this.bounds;
    const { width, height } = this.#hostSize();
    const scale = Math.min(width / w, height / h, MAX_FIT_SCALE);
    const vw = width / scale;
    const vh = height / scale;
    this.#setBox({ x: x + (w - vw) / 2, y: y + (h - vh) / 2, w: vw, h: vh });
  }

  /** Centre `el` in view, zooming in to a readable scale if the view is zoomed far out. */
  centerOn(el, minScale = 0.8) {
    if (!el || !this.svg) return;
    const b = this.#boxOf(el);
    const { width, height } = this.#hostSize();
    let { w, h } = this.box;
    if (width / w < minScale) [w, h] = [width / minScale, height / minScale];
    this.#setBox({ x: b.x + b.w / 2 - w / 2, y: b.y + b.h / 2 - h / 2, w, h });
  }

  /** Put `className` on exactly the node groups whose ids are given. */
  mark(className, ids) {
    if (!this.svg) return;
    for (const el of this.svg.querySelectorAll(`.${className}`)) el.classList.remove(className);
    for (const id of ids) (this.nodes.get(id) ?? this.clusters.get(id))?.classList.add(className);
  }

  destroy() {
    for (const [type, fn, opts] of this.listeners) this.host.removeEventListener(type, fn, opts);
    this.host.replaceChildren();
  }

  #hostSize() {
    return { width: this.host.clientWidth || 600, height: this.host.clientHeight || 400 };
  }

  #setBox(box) {
    this.box = box;
    this.svg?.setAttribute("viewBox", `${box.x} ${box.y} ${box.w} ${box.h}`);
  }

  /** Bounding box of `el` in viewBox units (through any transforms Graphviz added). */
  #boxOf(el) {
    const bb = el.getBBox();
    const m = this.svg.getScreenCTM().inverse().multiply(el.getScreenCTM());
    const p = new DOMPoint(bb.x, bb.y).matrixTransform(m);
    const q = new DOMPoint(bb.x + bb.width, bb.y + bb.height).matrixTransform(m);
    return { x: Math.min(p.x, q.x), y: Math.min(p.y, q.y), w: Math.abs(q.x - p.x), h: Math.abs(q.y - p.y) };
  }

  /** Viewport pixels -> viewBox units. */
  #toSvg(clientX, clientY) {
    return new DOMPoint(clientX, clientY).matrixTransform(this.svg.getScreenCTM().inverse());
  }

  #onWheel(e) {
    if (!this.svg || !this.box) return;
    e.preventDefault();
    const f = Math.exp(e.deltaY * ZOOM_PER_PIXEL * (e.deltaMode === 1 ? 16 : 1));
    const p = this.#toSvg(e.clientX, e.clientY);
    const { x, y, w, h } = this.box;
    this.#setBox({ x: p.x - (p.x - x) * f, y: p.y - (p.y - y) * f, w: w * f, h: h * f });
  }

  #onPointerDown(e) {
    if (!this.svg || e.button !== 0) return;
    this.press = { x: e.clientX, y: e.clientY, box: { ...this.box }, scale: this.svg.getScreenCTM().a, id: e.pointerId };
    this.moved = false;
  }

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

const titleOf = (g) => g.querySelector(":scope > title")?.textContent ?? "";

function titled(svg, selector) {
  return new Map([...svg.querySelectorAll(selector)].map((g) => [titleOf(g), g]));
}

/** Defence in depth: Graphviz escapes label text, and nothing active may survive anyway. */
function sanitize(svg) {
  for (const el of svg.querySelectorAll(UNSAFE_ELEMENTS)) el.remove();
  for (const el of [svg, ...svg.querySelectorAll("*")]) {
    for (const attr of [...el.attributes]) if (/^on|href$/i.test(attr.name)) el.removeAttribute(attr.name);
  }
}
