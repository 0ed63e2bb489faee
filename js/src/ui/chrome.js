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
 * Search box with a result list: typing lists the hits, Enter or a click jumps to one.
 * @param {{find: (q: string) => import("../search.js").SearchHit[], go: (hit: import("../search.js").SearchHit) => void}} actions
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
      hits = find(input.value);
      results.replaceChildren(
        ...(input.value.trim() && !hits.length ? [h("li", { class: "gv-muted" }, "no name starts with that")] : []),
        ...hits.map((hit) =>
          h("li", {}, h("button", { type: "button", class: "gv-result", onclick: () => choose(hit) }, hit.text, h("span", { class: "gv-muted" }, ` ${hit.type}`))),
        ),
      );
      results.hidden = !input.value.trim();
    },
    /** @param {KeyboardEvent} e */
    onkeydown: (e) => {
      if (e.key === "Enter" && hits.length) choose(hits[0]);
      else if (e.key === "Escape") close();
    },
  });
  return h("div", { class: "gv-search-box" }, input, results);
}
