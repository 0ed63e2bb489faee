// The watch view's Graph tab: the trace widget's graph panel (ui/app.js) on a view of the watch
// model, for one of two graphs:
// - the autograd graph of the first backward (traits `graph`, `edge_norms`, `hists`), its parameter
//   nodes filled by their gradient norm at the selected step;
// - the first NaN/Inf step replayed under trace (`replay`, `replay_edge_norms`, `replay_hists`;
//   watch(..., forensics=True)), drawn as the trace view draws it: that step's verdicts, the birth
//   marked (☢). It opens on this one once it exists; a switch above the panel goes back and forth.
// Each panel is mounted the first time it is shown with its graph there (a hidden panel has no size
// to fit a drawing in); the graphs arrive while a live run goes on.
//
// The first backward's verdicts are those of one pass: the watch view must not show them as the
// state of the run ("ok" next to a NaN step). Its panel gets a copy of the graph whose parameter
// nodes carry no verdict, and whose tensors carry no gradient summary (`grad: undefined`: not
// recorded here, rather than "None"); the watch's inspector section (app.js) says what the
// selected step recorded, and the first pass's cause. The replay's verdicts are of the step it
// replayed, so they stay.
import { mountGraph } from "../ui/app.js";
import { h } from "../ui/dom.js";
import { inkOn } from "./colors.js";

/** @typedef {import("../types.js").Graph} Graph */
/** @typedef {import("../types.js").GraphNode} GraphNode */
/** @typedef {import("../types.js").WatchTraits} WatchTraits */
/** @typedef {import("../types.js").WatchForensics} WatchForensics */
/** @typedef {import("../ui/app.js").PanelTraits} PanelTraits */
/** @typedef {import("../types.js").ModelLike<WatchTraits>} WatchModel */

/**
 * @typedef {object} GraphHooks
 * @property {() => Map<string, string>} colors      node id -> fill at the selected step (first backward)
 * @property {(nodeId: string) => void} selectNode   a node of the first backward's graph was clicked or revealed
 * @property {(name: string) => void} selectName     a parameter node of the replayed graph was clicked
 * @property {(node: GraphNode, which: Which) => Node[]|null} inspect  the watch section of a node's inspector
 * @property {(graph: Partial<Graph>) => Node} legend        the first backward's key
 * @property {(graph: Partial<Graph>, hasNorms: boolean) => Node} replayLegend  the replayed graph's key
 * @property {() => WatchForensics|null} forensics   the timeline's `forensics`
 */

/** @typedef {"first"|"replay"} Which   the first backward's graph, or the replayed step's */

/** The traits each graph is read from. @type {Record<Which, {graph: "graph"|"replay", edge_norms: "edge_norms"|"replay_edge_norms", hists: "hists"|"replay_hists"}>} */
const TRAITS = {
  first: { graph: "graph", edge_norms: "edge_norms", hists: "hists" },
  replay: { graph: "replay", edge_norms: "replay_edge_norms", hists: "replay_hists" },
};

/**
 * @param {HTMLElement} host
 * @param {WatchModel} model
 * @param {import("../ui/app.js").Layout} layout
 * @param {GraphHooks} hooks
 */
export function watchGraph(host, model, layout, hooks) {
  let shown = false; // the tab is open
  /** @type {Which|null} the graph the user chose; null: the replay when there is one */
  let chosen = null;
  const buttons = {
    replay: h("button", { type: "button", class: "gv-button gv-wt-graph-choice", "data-graph": "replay", onclick: () => choose("replay") }),
    first: h("button", { type: "button", class: "gv-button gv-wt-graph-choice", "data-graph": "first", onclick: () => choose("first") }, "First backward"),
  };
  const note = h("div", { class: "gv-wt-graph-note" });
  const bar = h("div", { class: "gv-wt-graph-bar" }, h("div", { class: "gv-wt-graph-switch", role: "group", "aria-label": "Graph shown" }, buttons.replay, buttons.first), note);
  const hosts = { first: h("div", { class: "gv-wt-graph-view", "data-graph": "first" }), replay: h("div", { class: "gv-wt-graph-view", "data-graph": "replay", hidden: true }) };
  host.append(bar, hosts.first, hosts.replay);
  const panels = {
    first: onePanel(hosts.first, model, layout, "first", {
      ...hooks,
      placeholder: "The autograd graph appears here after the first backward pass.",
      key: (graph) => hooks.legend(graph),
      select: (node) => hooks.selectNode(node.id),
    }),
    replay: onePanel(hosts.replay, model, layout, "replay", {
      ...hooks,
      placeholder: "",
      key: hooks.replayLegend,
      select: (node) => node.kind === "param" && node.tensor?.name && hooks.selectName(node.tensor.name),
    }),
  };

  /** The graph on show: the one chosen, else the replay once it exists. @returns {Which} */
  const showing = () => chosen ?? (isGraph(model.get("replay")) ? "replay" : "first");

  /** Show the graph `showing()` names, the switch when there are two, and what the replay says. */
  function update() {
    const which = showing();
    const replayed = isGraph(model.get("replay"));
    const forensics = hooks.forensics();
    bar.hidden = !replayed && !forensics;
    buttons.replay.hidden = buttons.first.hidden = !replayed;
    buttons.replay.textContent = forensics ? `Step ${forensics.step}, replayed` : "Replayed step";
    for (const name of /** @type {Which[]} */ (["first", "replay"])) {
      buttons[name].setAttribute("aria-pressed", String(name === which));
      hosts[name].hidden = name !== which;
    }
    // without a replay, say why there is none (never a guess); with one, its title says what it shows
    note.textContent = forensics && !replayed ? forensics.text : "";
    note.hidden = !note.textContent;
    root().dataset.graph = which;
    if (shown) panels[which].show();
  }

  /** The watch view's root element (data-graph says which graph is on show, for tests). */
  const root = () => /** @type {HTMLElement} */ (host.closest(".gradviz-watch") ?? host);

  /** @param {Which} which */
  function choose(which) {
    chosen = which;
    update();
  }

  const onChange = () => update();
  model.on("change:replay", onChange);
  model.on("change:timeline", onChange);
  update();
  return {
    recolor: () => panels.first.recolor(),
    refreshInspector: () => {
      panels.first.refreshInspector();
      panels.replay.refreshInspector();
    },
    /** The tab was opened: draw the graph on show if it is there. */
    show() {
      shown = true;
      update();
    },
    get mounted() {
      return panels[showing()].mounted;
    },
    /** @returns {Which} */
    get showing() {
      return showing();
    },
    /**
     * Select parameter `name` in the graph on show (reveal and centre it): node `id` of the first
     * backward's graph, or the node of that name in the replayed graph.
     * @param {string|null} id
     * @param {string} [name]
     */
    reveal(id, name) {
      if (showing() === "first") return panels.first.reveal(id);
      const graph = model.get("replay");
      const node = isGraph(graph) ? (graph.verdicts ?? []).find((v) => v.name === name)?.node : null;
      panels.replay.reveal(node ?? null);
    },
    /**
     * Show the replayed graph, with node `id` (a birth marker) selected.
     * @param {string|null} id
     */
    showReplay(id) {
      chosen = "replay";
      update();
      panels.replay.reveal(id);
    },
    destroy() {
      model.off("change:replay", onChange);
      model.off("change:timeline", onChange);
      panels.first.destroy();
      panels.replay.destroy();
      bar.remove();
    },
  };
}

/**
 * @typedef {object} PanelHooks
 * @property {string} placeholder   shown until the graph is there ("" = nothing)
 * @property {(graph: Partial<Graph>, hasNorms: boolean) => Node} key   the legend
 * @property {(node: GraphNode) => void} select     a node was clicked or revealed
 */

/**
 * One graph panel, mounted once it is shown with its graph there.
 * @param {HTMLElement} host
 * @param {WatchModel} model
 * @param {import("../ui/app.js").Layout} layout
 * @param {Which} which
 * @param {GraphHooks & PanelHooks} hooks
 */
function onePanel(host, model, layout, which, hooks) {
  const traits = TRAITS[which];
  /** @type {import("../ui/app.js").GraphPanel|null} */
  let panel = null;
  let shown = false;
  /** @type {string|null} */
  let pendingReveal = null;
  let selectedNode = ""; // browser-only: the watch model's `selected` is a parameter name
  /** @type {{node: GraphNode, el: HTMLElement}|null} the inspector section shown now, refreshed in place */
  let extra = null;
  /** @type {PanelTraits["graph"]|undefined} the graph trait the view below was made from */
  let source;
  /** @type {PanelTraits["graph"]} */
  let view = {};
  const placeholder = h("div", { class: "gv-graph-wait" }, hooks.placeholder);
  if (hooks.placeholder) host.append(placeholder);

  /** The graph as the panel sees it: the first backward's parameters without its verdicts and tensors. */
  function graphView() {
    const graph = model.get(traits.graph);
    if (graph !== source) {
      source = graph;
      view = isGraph(graph) && which === "first" ? withoutVerdicts(graph) : (graph ?? {});
    }
    return view;
  }

  /** @type {Record<string, string>} the panel's trait -> the watch model's, and their events */
  const renamed = { graph: traits.graph, edge_norms: traits.edge_norms, hists: traits.hists };
  /** @param {string} event */
  const eventOf = (event) => (event.startsWith("change:") && renamed[event.slice(7)] ? `change:${renamed[event.slice(7)]}` : event);

  /**
   * The graph panel's model: graph traits from the watch model, `selected` kept here.
   * @type {import("../ui/app.js").PanelModel}
   */
  const graphModel = {
    get(key) {
      // each branch reads the trait named `key`, which TS cannot follow through the comparisons
      return /** @type {PanelTraits[typeof key]} */ (
        key === "selected" ? selectedNode : key === "graph" ? graphView() : key === "edge_norms" ? model.get(traits.edge_norms) : key === "hists" ? model.get(traits.hists) : undefined
      );
    },
    set(key, value) {
      if (key !== "selected" || typeof value !== "string") return;
      selectedNode = value;
      const node = (graphView().nodes ?? []).find((n) => n.id === value);
      if (node) hooks.select(node);
    },
    // `fn`: anywidget's EventHandler type, whose arguments depend on the event
    /** @param {string} event @param {(...args: any[]) => void} fn */
    on(event, fn) {
      model.on(eventOf(event), fn);
    },
    /** @param {string} event @param {(...args: any[]) => void} fn */
    off(event, fn) {
      model.off(eventOf(event), fn);
    },
    save_changes() {},
  };

  /** @type {import("../ui/app.js").GraphOptions} */
  const options = {
    legend: (graph, hasNorms) => hooks.key(graph, hasNorms),
    onDraw: () => recolor(),
    inspectorExtra: (node) => {
      const content = hooks.inspect(node, which);
      if (!content) return (extra = null);
      const el = h("section", { class: "gv-watch-inspect" }, content);
      extra = { node, el };
      return el;
    },
  };
  if (which === "replay") options.exportName = "gradviz-replayed-step";

  function mountIfReady() {
    if (panel || !shown || !isGraph(model.get(traits.graph))) return;
    placeholder.remove();
    panel = mountGraph(host, graphModel, layout, options);
    if (pendingReveal) panel.reveal(pendingReveal);
    pendingReveal = null;
  }

  /** Fill each parameter node of the first backward's graph with its colour at the selected step. */
  function recolor() {
    if (!panel || which !== "first") return;
    for (const [id, color] of hooks.colors()) {
      const g = panel.view.nodes.get(id);
      const shape = g?.querySelector("polygon, path");
      if (!g || !shape) continue;
      shape.setAttribute("fill", color);
      for (const t of g.querySelectorAll("text")) t.setAttribute("fill", inkOn(color));
    }
  }

  const onGraph = () => mountIfReady();
  model.on(`change:${traits.graph}`, onGraph);
  return {
    recolor,
    /** Rebuild the inspector's watch section in place (the rest of the inspector stays). */
    refreshInspector() {
      if (!extra || !extra.el.isConnected) return;
      extra.el.replaceChildren(...(hooks.inspect(extra.node, which) ?? []));
    },
    show() {
      shown = true;
      mountIfReady();
    },
    get mounted() {
      return panel !== null;
    },
    /**
     * Select node `id` (reveal and centre it), unless it is already selected.
     * @param {string|null} id
     */
    reveal(id) {
      if (!id || id === selectedNode) return;
      if (panel) panel.reveal(id);
      else pendingReveal = id;
    },
    destroy() {
      model.off(`change:${traits.graph}`, onGraph);
      panel?.destroy();
      placeholder.remove();
    },
  };
}

/**
 * True for a captured graph (the graph traits are `{}` until there is one).
 * @param {Graph|import("../types.js").EmptyObject|null|undefined} graph
 * @returns {graph is Graph}
 */
export const isGraph = (graph) => !!graph && Array.isArray(graph.nodes);

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
