// Escaping of user-derived text (module and parameter names, source lines) for DOT.
// HTML and SVG text is set through the DOM (textContent), never through markup strings.

/**
 * Text for inside a double-quoted DOT string. Backslash and quote are DOT's escapes;
 * `&` is escaped because Graphviz decodes HTML entities in labels ("&lt;" would show "<");
 * line breaks become spaces so only our own `\n` separators break lines.
 * @param {unknown} text
 */
export function escapeDotText(text) {
  return String(text)
    .replace(/\\/g, "\\\\")
    .replace(/"/g, '\\"')
    .replace(/&/g, "&amp;")
    .replace(/[\r\n\u2028\u2029]+/g, " ")
    // eslint-disable-next-line no-control-regex -- removing control characters is the point
    .replace(/[\u0000-\u001f\u007f]/g, "");
}

/**
 * A quoted DOT string for an id or attribute value.
 * @param {unknown} text
 */
export const dotQuote = (text) => `"${escapeDotText(text)}"`;

/**
 * A quoted DOT label with one line per entry (each line escaped, joined by DOT's `\n`).
 * @param {unknown[]} lines
 */
export const dotLabel = (lines) => `"${lines.map(escapeDotText).join("\\n")}"`;

/**
 * Shorten a label line so one long name cannot stretch the whole layout.
 * @param {unknown} text
 */
export function clip(text, max = 42) {
  const s = String(text);
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
