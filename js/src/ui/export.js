// Download the drawing as SVG or PNG. The SVG on screen takes its theme colours from style.css;
// the file carries them inline (and a background), so it looks the same anywhere.
import { h } from "./dom.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const STYLED = ["fill", "stroke", "stroke-width", "stroke-dasharray", "font-family", "font-size", "font-weight", "opacity"];
const PNG_SCALE = 2;
const PNG_MAX_SIDE = 16000; // browsers refuse larger canvases
const PNG_MAX_PIXELS = 100e6;

/**
 * Toolbar buttons that download the current drawing. Also used by the watch view's graph panel.
 * @param {() => {svg: SVGSVGElement|null, bounds: {x: number, y: number, w: number, h: number}|null}} getView
 * @param {() => string} getName  file name without extension
 */
export function exportButtons(getView, getName) {
  /**
   * @param {"svg"|"png"} kind
   * @param {HTMLButtonElement} button
   */
  const run = async (kind, button) => {
    const { svg, bounds } = getView() ?? {};
    if (!svg || !bounds) return;
    button.disabled = true;
    try {
      const text = svgSnapshot(svg, bounds);
      const blob = kind === "svg" ? new Blob([text], { type: "image/svg+xml" }) : await pngOf(text, bounds);
      download(blob, `${getName()}.${kind}`);
    } finally {
      button.disabled = false;
    }
  };
  /**
   * @param {"svg"|"png"} kind
   * @param {string} title
   */
  const button = (kind, title) => {
    const b = h("button", { type: "button", class: "gv-button gv-export", title, onclick: () => run(kind, b) }, `⤓ ${kind.toUpperCase()}`);
    return b;
  };
  return h(
    "span",
    { class: "gv-export-box" },
    button("svg", "Download the drawing (all of it, as expanded now) as SVG"),
    button("png", "Download the drawing (all of it, as expanded now) as PNG"),
  );
}

/**
 * The whole drawing as a standalone SVG document: the theme's colours inlined, the page background
 * behind it, selection marks removed.
 * @param {SVGSVGElement} svg  the drawing on screen
 * @param {{x: number, y: number, w: number, h: number}} bounds
 * @returns {string}
 */
export function svgSnapshot(svg, bounds) {
  const copy = /** @type {SVGSVGElement} */ (svg.cloneNode(true));
  const from = [...svg.querySelectorAll("*")];
  // every element of the drawing is an SVG element (sanitize() in svg-view.js drops foreignObject)
  const to = /** @type {SVGElement[]} */ ([...copy.querySelectorAll("*")]);
  from.forEach((el, i) => {
    const style = getComputedStyle(el);
    for (const prop of STYLED) {
      const value = style.getPropertyValue(prop);
      if (value) to[i].style.setProperty(prop, value);
    }
  });
  for (const el of copy.querySelectorAll(".gv-selected")) el.classList.remove("gv-selected");
  const { x, y, w, h: height } = bounds;
  copy.setAttribute("xmlns", SVG_NS);
  copy.setAttribute("viewBox", `${x} ${y} ${w} ${height}`);
  copy.setAttribute("width", String(Math.ceil(w)));
  copy.setAttribute("height", String(Math.ceil(height)));
  copy.removeAttribute("class");
  const background = document.createElementNS(SVG_NS, "rect");
  for (const [k, v] of Object.entries({ x, y, width: w, height, fill: backgroundOf(svg) })) background.setAttribute(k, String(v));
  copy.insertBefore(background, copy.firstChild);
  return new XMLSerializer().serializeToString(copy);
}

/**
 * The first opaque background colour behind `el`.
 * @param {Element} el
 */
function backgroundOf(el) {
  for (let /** @type {Element|null} */ node = el; node && node.nodeType === 1; node = node.parentElement) {
    const color = getComputedStyle(node).backgroundColor;
    if (color && color !== "transparent" && !/rgba\(.*,\s*0\)$/.test(color)) return color;
  }
  return "#ffffff";
}

/**
 * Rasterise an SVG document (PNG_SCALE x, smaller for huge drawings).
 * @param {string} svgText
 * @param {{w: number, h: number}} bounds
 * @returns {Promise<Blob>}
 */
function pngOf(svgText, bounds) {
  const scale = Math.min(PNG_SCALE, PNG_MAX_SIDE / bounds.w, PNG_MAX_SIDE / bounds.h, Math.sqrt(PNG_MAX_PIXELS / (bounds.w * bounds.h)));
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bounds.w * scale));
      canvas.height = Math.max(1, Math.round(bounds.h * scale));
      const ctx = canvas.getContext("2d");
      if (!ctx) return reject(new Error("the browser could not make a canvas for the PNG"));
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the drawing is too large for a PNG"))), "image/png");
    };
    img.onerror = () => reject(new Error("the browser could not rasterise the drawing"));
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svgText)}`;
  });
}

/**
 * @param {Blob} blob
 * @param {string} name
 */
function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
