// The overview (minimap) of a drawing larger than its canvas: the whole drawing, small, in the corner of
// the canvas where it hides the least of a framed view, with the part in view framed. A click (or a drag) on it centres the view there.
// It shows only while part of the drawing is out of view; its × folds it to an "Overview" button, as it
// covers a corner of the canvas.
//
// The map is a copy of the drawing without its text (unreadable at that size, and most of the copy's
// weight), coloured by the theme as the drawing is (style.css).
import { h } from "./dom.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const MAX_W = 160; // px: the map's largest size ...
const MAX_H = 180;
const MIN_W = 48; // ... and its least width: a very tall drawing's map is a thin column, still a target
const SHOWN_SHARE = 0.97; // a view showing this share of the drawing each way needs no map
const CORNER_INSET = 8; // px between the map and the canvas's edges
const CORNER_WEIGHT = 25; // a problem or the selection under the map counts as this many plain nodes
const IMPORTANT = ".gv-selected, .gv-cut, .gv-birth, .gv-flagged, .gv-group, .gv-loss";
/** @type {{x: "left"|"right", y: "top"|"bottom"}[]} the corners tried, in order of preference */
const CORNERS = [
  { x: "right", y: "bottom" },
  { x: "left", y: "bottom" },
  { x: "right", y: "top" },
  { x: "left", y: "top" },
];

/** @typedef {import("./svg-view.js").SvgView} SvgView */
/** @typedef {import("./svg-view.js").Box} Box */

export class Minimap {
  /**
   * @param {HTMLElement} stage   the canvas's positioned parent: the map sits over the canvas's corner
   * @param {SvgView} view
   */
  constructor(stage, view) {
    this.view = view;
    /** @type {SVGSVGElement|null} */
    this.map = null;
    /** @type {SVGRectElement|null} */
    this.frame = null;
    this.dragging = false;
    this.element = h("div", {
      class: "gv-minimap",
      role: "button",
      "aria-label": "Overview of the whole graph: click to go there",
      title: "Overview: click or drag to move the view",
      hidden: true,
    });
    this.collapsed = false; // the user hid it (browser-only, like the view itself)
    this.toggle = h("button", { type: "button", class: "gv-minimap-toggle", onclick: () => this.#setCollapsed(!this.collapsed) });
    this.toggle.addEventListener("pointerdown", (e) => e.stopPropagation()); // a click on it is not a jump
    this.#setCollapsed(false);
    this.element.addEventListener("pointerdown", (e) => this.#press(e));
    this.element.addEventListener("pointermove", (e) => this.dragging && this.#goTo(e));
    this.element.addEventListener("pointerup", () => (this.dragging = false));
    this.element.addEventListener("pointercancel", () => (this.dragging = false));
    stage.append(this.element);
    this.unsubscribe = view.onViewChange(() => this.update());
  }

  /** A new drawing: copy it (without text) as the map. */
  draw() {
    const { svg, bounds } = this.view;
    if (!svg || !bounds) {
      this.element.replaceChildren();
      this.map = null;
      return;
    }
    const map = /** @type {SVGSVGElement} */ (svg.cloneNode(true));
    for (const el of map.querySelectorAll("text, title")) el.remove();
    for (const el of map.querySelectorAll("[id]")) el.removeAttribute("id"); // ids stay the drawing's own
    map.setAttribute("class", "gv-minimap-svg"); // not gv-svg: the drawing is the one svg.gv-svg
    map.setAttribute("viewBox", `${bounds.x} ${bounds.y} ${bounds.w} ${bounds.h}`);
    map.setAttribute("preserveAspectRatio", "xMidYMid meet");
    map.setAttribute("aria-hidden", "true");
    map.removeAttribute("role");
    const frame = document.createElementNS(SVG_NS, "rect");
    frame.setAttribute("class", "gv-minimap-frame");
    frame.setAttribute("vector-effect", "non-scaling-stroke");
    map.append(frame);
    const ratio = bounds.w / bounds.h;
    const height = Math.min(MAX_H, MAX_W / ratio);
    const width = Math.max(MIN_W, Math.min(MAX_W, height * ratio));
    this.element.style.width = `${Math.round(width)}px`;
    this.element.style.height = `${Math.round(height)}px`;
    this.element.replaceChildren(this.toggle, map);
    this.map = map;
    this.frame = frame;
    this.update();
  }

  /** Show the map only while part of the drawing is out of view, and frame the part in view. */
  update() {
    const { box, bounds } = this.view;
    if (!this.map || !this.frame || !box || !bounds) return void (this.element.hidden = true);
    const x = Math.max(box.x, bounds.x);
    const y = Math.max(box.y, bounds.y);
    const w = Math.min(box.x + box.w, bounds.x + bounds.w) - x;
    const h = Math.min(box.y + box.h, bounds.y + bounds.h) - y;
    this.element.hidden = w >= bounds.w * SHOWN_SHARE && h >= bounds.h * SHOWN_SHARE;
    this.frame.setAttribute("x", String(x));
    this.frame.setAttribute("y", String(y));
    this.frame.setAttribute("width", String(Math.max(0, w)));
    this.frame.setAttribute("height", String(Math.max(0, h)));
  }

  /**
   * Hide the map behind a small "Overview" button (it covers a corner of the canvas), or show it again.
   * @param {boolean} collapsed
   */
  #setCollapsed(collapsed) {
    this.collapsed = collapsed;
    this.element.classList.toggle("gv-minimap-collapsed", collapsed);
    this.toggle.textContent = collapsed ? "Overview" : "×";
    this.toggle.title = collapsed ? "Show the overview of the whole graph" : "Hide the overview";
    this.toggle.setAttribute("aria-label", this.toggle.title);
  }

  /**
   * Put the map in the canvas's corner where it hides the least of the view: what the inspector shows,
   * markers, flagged nodes and what the view was framed on count CORNER_WEIGHT times a plain node. Called after a view is framed, not while
   * the user pans (a map that jumped corners under the pointer would be hard to use).
   * @param {Element[]} [focus]  what the view was framed on (the problems): as important
   */
  place(focus = []) {
    const stage = this.element.parentElement;
    if (!stage || this.element.hidden) return;
    const area = stage.getBoundingClientRect();
    const [w, h] = [this.element.offsetWidth, this.element.offsetHeight];
    const nodes = [...this.view.nodes.values()].map((g) => ({ box: g.getBoundingClientRect(), weight: g.matches(IMPORTANT) || focus.includes(g) ? CORNER_WEIGHT : 1 }));
    let best = CORNERS[0];
    let least = Infinity;
    for (const corner of CORNERS) {
      const left = corner.x === "left" ? area.left + CORNER_INSET : area.right - CORNER_INSET - w;
      const top = corner.y === "top" ? area.top + CORNER_INSET : area.bottom - CORNER_INSET - h;
      let hidden = 0;
      for (const { box, weight } of nodes) {
        if (box.left < left + w && box.right > left && box.top < top + h && box.bottom > top) hidden += weight;
      }
      if (hidden < least) [best, least] = [corner, hidden];
    }
    const { style } = this.element;
    style.left = best.x === "left" ? `${CORNER_INSET}px` : "auto";
    style.right = best.x === "right" ? `${CORNER_INSET}px` : "auto";
    style.top = best.y === "top" ? `${CORNER_INSET}px` : "auto";
    style.bottom = best.y === "bottom" ? `${CORNER_INSET}px` : "auto";
  }

  /** @param {PointerEvent} e */
  #press(e) {
    if (e.button !== 0 || this.collapsed) return;
    e.preventDefault();
    this.dragging = true;
    this.element.setPointerCapture?.(e.pointerId);
    this.#goTo(e);
  }

  /**
   * Centre the view on the drawing's point under the pointer.
   * @param {PointerEvent} e
   */
  #goTo(e) {
    const ctm = this.map?.getScreenCTM();
    if (!ctm) return;
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(ctm.inverse());
    this.view.centerAt(p.x, p.y);
  }

  destroy() {
    this.unsubscribe();
    this.element.remove();
  }
}
