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

/** @typedef {import("../types.js").Graph} Graph */
/** @typedef {import("../types.js").GraphNode} GraphNode */
/** @typedef {import("../ui/app.js").PanelTraits} PanelTraits */

/**
 * @typedef {object} GraphHooks
 * @property {() => Map<string, string>} colors      node id -> fill at the selected step
 * @property {(nodeId: string) => void} selectNode   a node was clicked or revealed
 * @property {(node: GraphNode) => Node[]|null} inspect  the watch section of a node's inspector
 * @property {(graph: Partial<Graph>) => Node} legend
 */

/**
 * @param {HTMLElement} host
 * @param {import("../types.js").ModelLike<import("../types.js").WatchTraits>} model
 * @param {import("../ui/app.js").Layout} layout
 * @param {GraphHooks} hooks
 */
export function watchGraph(host, model, layout, hooks) {
  /** @type {import("../ui/app.js").GraphPanel|null} */
  let panel = null;
  let shown = false; // mounted only once visible: a hidden panel has no size to fit a drawing in
  /** @type {string|null} */
  let pendingReveal = null;
  let selectedNode = ""; // browser-only: the watch model's `selected` is a parameter name
  /** @type {{node: GraphNode, el: HTMLElement}|null} the inspector section shown now, refreshed in place */
  let extra = null;
  /** @type {PanelTraits["graph"]|undefined} the graph trait the view below was made from */
  let source;
  /** @type {PanelTraits["graph"]} */
  let view = {};
  const placeholder = h("div", { class: "gv-graph-wait" }, "The autograd graph appears here after the first backward pass.");
  host.append(placeholder);

  /** The graph as the panel sees it: parameters without the first pass's verdict and tensor. */
  function graphView() {
    const graph = model.get("graph");
    if (graph !== source) {
      source = graph;
      view = isGraph(graph) ? withoutVerdicts(graph) : graph;
    }
    return view;
  }

  /**
   * The graph panel's model: graph traits from the watch model, `selected` kept here.
   * @type {import("../ui/app.js").PanelModel}
   */
  const graphModel = {
    get(key) {
      // each branch reads the trait named `key`, which TS cannot follow through the comparisons
      return /** @type {PanelTraits[typeof key]} */ (key === "selected" ? selectedNode : key === "graph" ? graphView() : model.get(key));
    },
    set(key, value) {
      if (key !== "selected" || typeof value !== "string") return;
      selectedNode = value;
      hooks.selectNode(value);
    },
    // `fn`: anywidget's EventHandler type, whose arguments depend on the event
    /** @param {string} event @param {(...args: any[]) => void} fn */
    on(event, fn) {
      model.on(event, fn);
    },
    /** @param {string} event @param {(...args: any[]) => void} fn */
    off(event, fn) {
      model.off(event, fn);
    },
    save_changes() {},
  };

  /** @type {import("../ui/app.js").GraphOptions} */
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
    if (panel || !shown || !isGraph(model.get("graph"))) return;
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
      if (!g || !shape) continue;
      shape.setAttribute("fill", color);
      for (const t of g.querySelectorAll("text")) t.setAttribute("fill", inkOn(color));
    }
  }

  /** Rebuild the inspector's watch section in place (the rest of the inspector stays). */
  function refreshInspector() {
    if (!extra || !extra.el.isConnected) return;
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
    /**
     * Select node `id` in the graph (reveal and centre it), unless it is already selected.
     * @param {string|null} id
     */
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
 * True for a captured graph (the trait is `{}` until the first backward).
 * @param {Graph|import("../types.js").EmptyObject|null|undefined} graph
 * @returns {graph is Graph}
 */
const isGraph = (graph) => !!graph && Array.isArray(graph.nodes);

/**
 * A copy of `graph` whose parameter nodes have no verdict (kept as `firstVerdict`) and no gradient
 * summary, titled for what it is: a graph made for a trace carries a verdict count in its title.
 * @param {Graph} graph
 * @returns {Graph}
 */
export function withoutVerdicts(graph) {
  /**
   * @param {GraphNode} n
   * @returns {GraphNode}
   */
  const strip = (n) => ({ ...n, verdict: null, firstVerdict: n.verdict ?? null, tensor: n.tensor && { ...n.tensor, grad: undefined } });
  const model = (graph.modules ?? []).find((m) => m.path === "")?.type;
  const title = `${model ? `${model}: a` : "A"}utograd graph of the first backward pass`;
  return { ...graph, title, nodes: graph.nodes.map((n) => (n.kind === "param" ? strip(n) : n)) };
}
