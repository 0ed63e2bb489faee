// The autograd graph of the first backward inside the watch view: the trace widget's graph
// panel (ui/app.js) on a view of the watch model, with parameter nodes filled by their
// gradient norm at the selected step and a sparkline in the inspector. Mounted once the
// `graph` trait is non-empty (it arrives with the first backward of a live run).
import { mountGraph } from "../ui/app.js";
import { h } from "../ui/dom.js";
import { inkOn } from "./colors.js";

/**
 * @typedef {object} GraphHooks
 * @property {() => Map<string, string>} colors      node id -> fill at the selected step
 * @property {(nodeId: string) => void} selectNode   a node was clicked or revealed
 * @property {(node: object) => Node[]|null} inspect  the watch section of a node's inspector
 * @property {(graph: object) => Node} legend
 */

/**
 * @param {HTMLElement} host
 * @param {{get: Function, set: Function, on: Function, off: Function, save_changes: Function}} model
 * @param {{layout: (dot: string) => Promise<string>}} layout
 * @param {GraphHooks} hooks
 */
export function watchGraph(host, model, layout, hooks) {
  let panel = null;
  let selectedNode = ""; // browser-only: the watch model's `selected` is a parameter name
  let extra = null; // {node, el}: the inspector section shown now, refreshed in place
  const placeholder = h("div", { class: "gv-graph-wait" }, "The autograd graph appears here after the first backward pass.");
  host.append(placeholder);

  // The graph panel's model: graph traits from the watch model, `selected` kept here.
  const graphModel = {
    get: (key) => (key === "selected" ? selectedNode : model.get(key)),
    set: (key, value) => {
      if (key !== "selected") return;
      selectedNode = value;
      hooks.selectNode(value);
    },
    on: (event, fn) => model.on(event, fn),
    off: (event, fn) => model.off(event, fn),
    save_changes() {},
  };

  const options = {
    legend: (graph) => hooks.legend(graph),
    onDraw: () => recolor(),
    inspectorExtra: (node) => {
      const content = hooks.inspect(node);
      if (!content) return (extra = null);
      const el = h("section", { class: "gv-watch-inspect" }, content);
      extra = { node, el };
      return el;
    },
  };

  function mountIfReady() {
    const graph = model.get("graph");
    if (panel || !graph || !Array.isArray(graph.nodes)) return;
    placeholder.remove();
    panel = mountGraph(host, graphModel, layout, options);
  }

  /** Fill each parameter node with its colour at the selected step; labels stay readable. */
  function recolor() {
    if (!panel) return;
    for (const [id, color] of hooks.colors()) {
      const g = panel.view.nodes.get(id);
      const shape = g?.querySelector("polygon, path");
      if (!shape) continue;
      shape.setAttribute("fill", color);
      for (const t of g.querySelectorAll("text")) t.setAttribute("fill", inkOn(color));
    }
  }

  /** Rebuild the inspector's watch section in place (the rest of the inspector stays). */
  function refreshInspector() {
    if (!extra?.el.isConnected) return;
    extra.el.replaceChildren(...(hooks.inspect(extra.node) ?? []));
  }

  model.on("change:graph", mountIfReady);
  mountIfReady();
  return {
    recolor,
    refreshInspector,
    /** Select node `id` in the graph (reveal and centre it), unless it is already selected. */
    reveal(id) {
      if (panel && id && id !== selectedNode) panel.reveal(id);
    },
    destroy() {
      model.off("change:graph", mountIfReady);
      panel?.destroy();
      placeholder.remove();
    },
  };
}
