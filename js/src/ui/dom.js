// Tiny DOM builder. Text children become text nodes, so user-derived strings are never parsed
// as markup; this is how every name, path and source line reaches the page.

/**
 * What h() and append() take as children: nodes, text, nested lists; null, undefined, false and ""
 * (the leftovers of `cond && child`) add nothing visible.
 * @typedef {Node|string|number|null|undefined|false|Child[]} Child
 */

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [props]  `class`, `on<event>` listeners, other attributes
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = String(value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/**
 * Append children (nested lists flattened; null/undefined/false skipped; strings as text).
 * @template {Element} E
 * @param {E} el
 * @param {Child[]} children
 * @returns {E}
 */
export function append(el, children) {
  for (const child of children) {
    if (Array.isArray(child)) append(el, child);
    else if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * An SVG element with attributes.
 * @template {keyof SVGElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string|number|boolean>} [attrs]
 * @returns {SVGElementTagNameMap[K]}
 */
export function s(tag, attrs = {}) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

// Where a long name, path or line of code may wrap: after . _ / , ( [ = : when a letter follows, so
// `enable_input_require_grads()` wraps at its own joints, "0.5" stays whole, and a closing ")." never
// starts a line alone. Text with no joint wraps at spaces only (overflow-wrap in style.css breaks
// what is still too wide).
const JOINT = /(?<=[._/,([=:])(?=[A-Za-z_])/;

/**
 * `text` as text nodes with a <wbr> at each joint.
 * @param {string} text
 * @returns {Child[]}
 */
export function breakable(text) {
  return String(text)
    .split(JOINT)
    .flatMap((part, i) => (i ? [document.createElement("wbr"), part] : [part]));
}

/**
 * A sentence whose `backticked` parts are code: those become <code> (the backticks kept, faint, so the
 * text reads and copies as written), and every part wraps at its joints (see breakable). An unpaired
 * backtick stays plain text.
 * @param {string} text
 * @returns {Child[]}
 */
export function richText(text) {
  const parts = String(text).split("`");
  const paired = parts.length % 2 === 1 ? parts.length : parts.length - 1; // parts past it: after a lone `
  return parts.map((part, i) => {
    if (i >= paired) return ["`", breakable(part)];
    if (i % 2 === 0) return breakable(part);
    const tick = () => h("span", { class: "gv-tick" }, "`");
    return h("code", {}, tick(), breakable(part), tick());
  });
}
