// The autograd graph of the first backward inside the watch view: the trace widget's graph
// panel (ui/app.js) on a view of the watch model, with parameter nodes filled by their
// gradient norm at the selected step. Mounted the first time it is shown, once the `graph`
// trait is non-empty (it arrives with the first backward of a live run).
//
// The graph's own verdicts are those of one pass, the first backward: the watch view must not
// show them as the state of the run ("ok" next to a NaN step). The panel gets a copy of the
// graph whose parameter nodes carry no verdict, and whose tensors carry no gradient summary
// (`grad: undefined`: not recorded here, rather than "None"); the watch's inspector section
// (app.js) says what the selected step recorded, and the first pass's cause.
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
  let shown = false; // mounted only once visible: a hidden panel has no size to fit a drawing in
  let pendingReveal = null;
  let selectedNode = ""; // browser-only: the watch model's `selected` is a parameter name
  let extra = null; // {node, el}: the inspector section shown now, refreshed in place
  let source = null; // the graph trait the view below was made from
  let view = null;
  const placeholder = h("div", { class: "gv-graph-wait" }, "The autograd graph appears here after the first backward pass.");
  host.append(placeholder);

  /** The graph as the panel sees it: parameters without the first pass's verdict and tensor. */
  function graphView() {
    const graph = model.get("graph");
    if (graph !== source) {
      source = graph;
      view = graph && Array.isArray(graph.nodes) ? withoutVerdicts(graph) : graph;
    }
    return view;
  }

  // The graph panel's model: graph traits from the watch model, `selected` kept here.
  const graphModel = {
    get: (key) => (key === "selected" ? selectedNode : key === "graph" ? graphView() : model.get(key)),
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
    if (panel || !shown || !graph || !Array.isArray(graph.nodes)) return;
    placeholder.remove();
    panel = mountGraph(host, graphModel, layout, options);
    if (pendingReveal) panel.reveal(pendingReveal);
    pendingReveal = null;
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
  return {
    recolor,
    refreshInspector,
    /** The panel became visible (its tab was opened): draw it now if the graph is there. */
    show() {
      shown = true;
      mountIfReady();
    },
    get mounted() {
      return panel !== null;
    },
    /** Select node `id` in the graph (reveal and centre it), unless it is already selected. */
    reveal(id) {
      if (!id || id === selectedNode) return;
      if (panel) panel.reveal(id);
      else pendingReveal = id;
    },
    destroy() {
      model.off("change:graph", mountIfReady);
      panel?.destroy();
      placeholder.remove();
    },
  };
}

/**
 * A copy of `graph` whose parameter nodes have no verdict (kept as `firstVerdict`) and no gradient
 * summary, titled for what it is: a graph made for a trace carries a verdict count in its title.
 */
export function withoutVerdicts(graph) {
  const strip = (n) => ({ ...n, verdict: null, firstVerdict: n.verdict ?? null, tensor: n.tensor && { ...n.tensor, grad: undefined } });
  const model = (graph.modules ?? []).find((m) => m.path === "")?.type;
  const title = `${model ? `${model}: a` : "A"}utograd graph of the first backward pass`;
  return { ...graph, title, nodes: graph.nodes.map((n) => (n.kind === "param" ? strip(n) : n)) };
}
