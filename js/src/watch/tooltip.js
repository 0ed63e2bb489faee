// A floating text box near the pointer. Content is built with h() (text nodes), so parameter
// and module names never reach the page as markup.
import { h } from "../ui/dom.js";

const OFFSET = 14;

/** @typedef {string|[string, string]} TipLine   a title line, or a label and its value */

export class Tooltip {
  /** @param {HTMLElement} host  positioned ancestor the box is placed in */
  constructor(host) {
    this.host = host;
    this.el = h("div", { class: "gv-tooltip", role: "tooltip", hidden: true });
    host.append(this.el);
  }

  /**
   * Show `lines` ([label, value] pairs or plain strings) at the viewport point (x, y).
   * @param {number} x
   * @param {number} y
   * @param {TipLine[]} lines
   */
  show(x, y, lines) {
    this.el.replaceChildren(
      ...lines.map((line) =>
        Array.isArray(line)
          ? h("div", { class: "gv-tip-row" }, h("span", { class: "gv-tip-label" }, line[0]), h("span", {}, line[1]))
          : h("div", { class: "gv-tip-title" }, line),
      ),
    );
    this.el.hidden = false;
    const box = this.host.getBoundingClientRect();
    const width = this.el.offsetWidth || 200;
    const left = x - box.left + OFFSET;
    this.el.style.left = `${Math.max(0, left + width > box.width ? x - box.left - width - OFFSET : left)}px`;
    this.el.style.top = `${y - box.top + OFFSET}px`;
  }

  hide() {
    this.el.hidden = true;
  }
}
