// The parts around the graph: title, notes and error banner, and the toolbar with search.
import { h } from "./dom.js";

/**
 * Title, notes, and the banner for an exception raised during the trace.
 * @param {Partial<import("../types.js").Graph>} graph  (`{}` for a watch graph not captured yet)
 */
export function header(graph) {
  const error = graph.error;
  return h(
    "header",
    { class: "gv-header" },
    h("div", { class: "gv-title" }, graph.title ?? "gradviz"),
    (graph.notes ?? []).map((note) => h("p", { class: "gv-note" }, note)),
    error &&
      h(
        "div",
        { class: "gv-error", role: "alert" },
        h("strong", {}, `${error.type}: `),
        error.message,
        error.where && h("span", {}, " at ", h("code", {}, error.where)),
        error.explanation && h("div", { class: "gv-error-explanation" }, error.explanation),
      ),
  );
}

/**
 * What a search found: the hits to list, and how many there are in all.
 * @typedef {{hits: import("../search.js").SearchHit[], total: number}} Found
 */

/**
 * Search box with a result list: typing lists the hits ("+N more" when there are more than it
 * lists), Enter or a click jumps to one. `clear()` empties the box and closes the list.
 * @param {{find: (q: string) => Found, go: (hit: import("../search.js").SearchHit) => void}} actions
 * @returns {{element: HTMLElement, clear: () => void}}
 */
export function searchBox({ find, go }) {
  const results = h("ul", { class: "gv-results", role: "listbox", hidden: true });
  /** @type {import("../search.js").SearchHit[]} */
  let hits = [];
  const close = () => {
    results.hidden = true;
    results.replaceChildren();
  };
  /** @param {import("../search.js").SearchHit} hit */
  const choose = (hit) => {
    close();
    go(hit);
  };
  const input = h("input", {
    type: "search",
    class: "gv-search",
    placeholder: "Find a parameter, op or module",
    "aria-label": "Find a node",
    spellcheck: "false",
    oninput: () => {
      const found = find(input.value);
      hits = found.hits;
      const more = found.total - hits.length;
      results.replaceChildren(
        ...(input.value.trim() && !hits.length ? [h("li", { class: "gv-muted" }, "no name starts with that")] : []),
        ...hits.map((hit) =>
          h("li", {}, h("button", { type: "button", class: "gv-result", onclick: () => choose(hit) }, hit.text, h("span", { class: "gv-muted" }, ` ${hit.type}`))),
        ),
        ...(more > 0 ? [h("li", { class: "gv-muted gv-more" }, `+${more} more: type more of the name`)] : []),
      );
      results.hidden = !input.value.trim();
    },
    /** @param {KeyboardEvent} e */
    onkeydown: (e) => {
      if (e.key === "Enter" && hits.length) choose(hits[0]);
      else if (e.key === "Escape") close();
    },
  });
  const clear = () => {
    input.value = "";
    hits = [];
    close();
  };
  return { element: h("div", { class: "gv-search-box" }, input, results), clear };
}
