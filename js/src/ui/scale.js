// The display scale: everything the widget draws (text, boxes, the graph) 1x, 1.25x, 1.5x or 2x, for a
// projector or a large screen. Chosen in the toolbar and remembered in the browser (localStorage, one
// choice for every gradviz widget and saved page of this origin), or asked for from Python
// (`GraphWidget(scale=1.5)`), which wins for that widget until the toolbar changes it.
import { h } from "./dom.js";

/** The scales the toolbar offers. */
export const SCALES = [1, 1.25, 1.5, 2];
/** The range a scale may take (Python checks the same: gradviz/view/_widget.py). Below 1, labels would
 * fall under the 9 px the graph keeps them at (svg-view.js, NOTE [readable scale]). */
export const MIN_DISPLAY_SCALE = 1;
export const MAX_DISPLAY_SCALE = 2;
const STORE_KEY = "gradviz.scale";

/**
 * A usable scale from anything: a number in range, else null.
 * @param {unknown} value
 * @returns {number|null}
 */
export function validScale(value) {
  const x = typeof value === "string" ? Number(value) : value;
  return typeof x === "number" && Number.isFinite(x) && x >= MIN_DISPLAY_SCALE && x <= MAX_DISPLAY_SCALE ? x : null;
}

/**
 * The scale this browser remembers (null: none, or storage is unavailable, as in some sandboxed frames).
 * @returns {number|null}
 */
export function rememberedScale() {
  try {
    return validScale(globalThis.localStorage?.getItem(STORE_KEY) ?? null);
  } catch {
    return null;
  }
}

/** @param {number} scale */
export function rememberScale(scale) {
  try {
    globalThis.localStorage?.setItem(STORE_KEY, String(scale));
  } catch {
    // storage refused (private mode, sandbox): the choice lasts as long as the page
  }
}

/**
 * The toolbar's "Size" control.
 * @param {number} initial
 * @param {(scale: number) => void} onChange
 * @returns {{element: HTMLElement, set: (scale: number) => void}}
 */
export function scaleControl(initial, onChange) {
  const select = h("select", { class: "gv-scale", "aria-label": "Display size", title: "Size of text and drawing (remembered in this browser)" });
  /** @param {number} scale */
  const set = (scale) => {
    const values = [...new Set([...SCALES, scale])].sort((a, b) => a - b);
    select.replaceChildren(...values.map((v) => h("option", { value: String(v) }, `${Math.round(v * 100)}%`)));
    select.value = String(scale);
  };
  set(initial);
  select.addEventListener("change", () => {
    const scale = validScale(select.value);
    if (scale !== null) onChange(scale);
  });
  return { element: h("label", { class: "gv-toggle" }, "Size", select), set };
}
