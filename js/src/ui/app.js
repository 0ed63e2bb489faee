// The widget: wires the model (synced traits), the view options, layout and the panels.
import { normRangeOf, toDot } from "../dot.js";
import { indexGraph } from "../graph-index.js";
import { formatCount } from "../format.js";
import { search } from "../search.js";
import { toFloat32 } from "../state.js";
import {
  MAX_VISIBLE_NODES,
  drawnAs,
  initialCollapsed,
  isCollapsedAt,
  moduleNodeId,
  moduleOfNodeId,
  problemNodeIds,
  revealModule,
  visibleGraph,
} from "../visible.js";
import { header, searchBox } from "./chrome.js";
import { h } from "./dom.js";
import { renderInspector } from "./inspector.js";
import { legend } from "./legend.js";
import { SvgView } from "./svg-view.js";

const NOTICE_MS = 8000;
const BUSY_AFTER_MS = 200; // quick layouts do not flash the "Laying out" overlay

/**
 * Mount the widget in `el`. Returns the cleanup function anywidget calls on removal.
 * @param {HTMLElement} el
 * @param {{get: Function, set: Function, on: Function, off: Function, save_changes: Function}} model
 * @param {{layout: (dot: string) => Promise<string>}} layout
 */
export function mountApp(el, model, layout) {
  return mountGraph(el, model, layout).destroy;
}

/**
 * @typedef {object} GraphOptions   what a host view (the watch view) adds to the graph panel
 * @property {(graph: object, hasNorms: boolean) => Node} [legend]  replaces the severity legend
 * @property {(view: SvgView) => void} [onDraw]      after each drawing is shown (restyle nodes)
 * @property {(node: object) => Node|null} [inspectorExtra]  a section added to a node's inspector
 *
 * @typedef {object} GraphPanel
 * @property {() => void} destroy
 * @property {(id: string) => void} reveal   make node `id` visible, select and centre it
 * @property {SvgView} view
 */

/**
 * The graph panel: toolbar, SVG view and inspector, driven by the `graph`, `edge_norms`,
 * `hists` and `selected` traits of `model`.
 * @param {HTMLElement} el
 * @param {{get: Function, set: Function, on: Function, off: Function, save_changes: Function}} model
 * @param {{layout: (dot: string) => Promise<string>}} layout
 * @param {GraphOptions} [options]
 * @returns {GraphPanel}
 */
export function mountGraph(el, model, layout, options = {}) {
  // Browser-only state: never synced back to Python (js/STATE.md). Only `selected` goes back.
  let index = indexGraph({ nodes: [], edges: [] });
  let norms = new Float32Array(0);
  let hists = new Float32Array(0);
  let normRange = null;
  let collapsed = new Set(); // module paths drawn as one node
  let problemsOnly = false;
  let target = null; // what the inspector shows: {type: "node"|"module", id}
  let requested = null; // {collapsed, problemsOnly} of the latest layout request that has not failed
  let pending = null; // the layout request in flight, {focus}; results of older requests are dropped
  let draws = 0; // finished drawings, exposed as data-draws for tests and benchmarks
  let noticeTimer = 0;

  const problems = h("input", { type: "checkbox", onchange: () => onProblemsToggle() });
  const status = h("span", { class: "gv-status", "aria-live": "polite" });
  const notice = h("div", { class: "gv-notice", role: "status", hidden: true });
  const overlay = h("div", { class: "gv-overlay", hidden: true });
  const canvas = h("div", { class: "gv-canvas", tabindex: "0", "aria-label": "Autograd graph" });
  const panel = h("aside", { class: "gv-inspector", "aria-label": "Inspector" });
  const top = h("div", { class: "gv-top" });
  const root = h(
    "div",
    { class: "gradviz-root", "data-draws": "0" },
    top,
    h(
      "div",
      { class: "gv-toolbar" },
      searchBox({ find: (q) => search(index, q), go: jumpTo }),
      h("button", { type: "button", class: "gv-button", onclick: () => view.fit(), title: "Fit the graph in view" }, "Fit"),
      h("button", { type: "button", class: "gv-button", onclick: () => reset(), title: "Back to the first view" }, "Reset"),
      h("label", { class: "gv-toggle" }, problems, "Only problems"),
      status,
    ),
    notice,
    h("div", { class: "gv-body" }, h("div", { class: "gv-stage" }, canvas, overlay), panel),
  );
  el.append(root);
  const view = new SvgView(canvas, { onNode, onClusterTitle });

  function load() {
    const graph = model.get("graph") ?? {};
    requested = null;
    index = indexGraph(graph);
    norms = toFloat32(model.get("edge_norms"));
    hists = toFloat32(model.get("hists"));
    normRange = normRangeOf(norms);
    top.replaceChildren(header(graph), (options.legend ?? legend)(graph, normRange !== null));
    const selected = index.byId.get(model.get("selected") ?? "") ?? null;
    collapsed = initialCollapsed(index);
    if (selected) collapsed = revealModule(index, collapsed, selected.module ?? "");
    problemsOnly = false;
    let visible = visibleGraph(index, { collapsed, problemsOnly }, norms);
    if (visible.items.length > MAX_VISIBLE_NODES) {
      problemsOnly = true;
      visible = visibleGraph(index, { collapsed, problemsOnly }, norms);
      showNotice("This graph is too large to draw whole, so only the problems are shown.");
    }
    problems.checked = problemsOnly;
    inspect(selected ? { type: "node", id: selected.id } : null);
    if (!index.byId.size) return showOverlay("This trace recorded no autograd graph to draw.", "info");
    if (visible.items.length > MAX_VISIBLE_NODES) {
      return showOverlay(`${formatCount(visible.items.length)} nodes are outside any module: too many to draw.`, "error");
    }
    draw(visible, selected?.id ?? null);
  }

  /** Apply new view options; refuses (with a notice) when the result would be too big to draw. */
  function setView(nextCollapsed, nextProblemsOnly, focus) {
    const visible = visibleGraph(index, { collapsed: nextCollapsed, problemsOnly: nextProblemsOnly }, norms);
    if (visible.items.length > MAX_VISIBLE_NODES) {
      showNotice(
        `That would draw ${formatCount(visible.items.length)} nodes; the limit is ${formatCount(MAX_VISIBLE_NODES)}. ` +
          "Collapse other modules first, or turn on “Only problems”.",
      );
      problems.checked = problemsOnly;
      return;
    }
    collapsed = nextCollapsed;
    problemsOnly = nextProblemsOnly;
    problems.checked = problemsOnly;
    const unchanged = requested && requested.problemsOnly === problemsOnly && sameSet(requested.collapsed, collapsed);
    if (!unchanged) return draw(visible, focus);
    if (pending) pending.focus = focus;
    else showFocus(focus);
  }

  async function draw(visible, focus) {
    const request = { focus };
    pending = request;
    requested = { collapsed, problemsOnly };
    const real = visible.items.filter((item) => item.node).length;
    const modules = visible.items.length - real;
    status.textContent =
      `${formatCount(real)} of ${formatCount(index.byId.size)} nodes drawn` +
      (modules ? ` · ${formatCount(modules)} collapsed module${modules === 1 ? "" : "s"}` : "");
    const busy = setTimeout(() => pending === request && showOverlay("Laying out the graph…", "busy"), BUSY_AFTER_MS);
    try {
      const svg = await layout.layout(toDot(index, visible, normRange));
      if (pending !== request) return;
      view.show(svg);
      options.onDraw?.(view);
    } catch (err) {
      if (pending !== request) return;
      pending = null;
      requested = null;
      const retry = h("button", { type: "button", class: "gv-button", onclick: () => draw(visible, focus) }, "Try again");
      return showOverlay(`Could not lay out the graph: ${err?.message ?? err}`, "error", retry);
    } finally {
      clearTimeout(busy);
    }
    pending = null;
    overlay.hidden = true;
    root.dataset.draws = String(++draws);
    showFocus(request.focus);
  }

  /** Highlight what the inspector shows and centre `focus` (a DOT node or cluster id) if given. */
  function showFocus(focus) {
    view.mark("gv-selected", targetIds());
    if (focus) view.centerOn(view.nodes.get(focus) ?? view.clusters.get(focus));
  }

  function targetIds() {
    if (target?.type === "node") return [target.id];
    if (target?.type === "module") {
      const m = index.modules.get(target.id);
      return m ? [moduleNodeId(m), `cluster_${m.uid}`] : [];
    }
    return [];
  }

  function inspect(next) {
    target = next;
    renderInspector(panel, target, {
      index,
      hists,
      reveal: (id) => jumpTo({ type: "node", id }),
      toggle,
      isCollapsed: (path) => isCollapsedAt(collapsed, path),
      extra: options.inspectorExtra,
    });
    view.mark("gv-selected", targetIds());
  }

  function onNode(id) {
    const module = moduleOfNodeId(index, id);
    if (module) return toggle(module.path);
    inspect({ type: "node", id });
    model.set("selected", id);
    model.save_changes();
  }

  function onClusterTitle(clusterId) {
    const uid = Number(clusterId.replace(/^cluster_/, ""));
    const m = index.byUid.get(uid);
    if (m) toggle(m.path);
  }

  /** Expand a collapsed module (and any collapsed ancestor), or collapse an expanded one. */
  function toggle(path) {
    const m = index.modules.get(path);
    const expand = isCollapsedAt(collapsed, path);
    const next = expand ? revealModule(index, collapsed, path) : new Set([...collapsed, path]);
    setView(next, problemsOnly, expand ? `cluster_${m.uid}` : moduleNodeId(m));
    inspect({ type: "module", id: path }); // after setView: its button reads the new collapsed state
  }

  /** Search result or inspector link: make the node or module visible, centre and select it. */
  function jumpTo(hit) {
    if (hit.type === "module") {
      const m = index.modules.get(hit.id);
      const next = revealModule(index, collapsed, m.parent ?? "");
      setView(next, problemsOnly, isCollapsedAt(next, m.path) ? moduleNodeId(m) : `cluster_${m.uid}`);
      return inspect({ type: "module", id: hit.id });
    }
    const node = index.byId.get(hit.id);
    const keepFilter = problemsOnly && problemNodeIds(index).has(node.id);
    inspect({ type: "node", id: node.id });
    model.set("selected", node.id);
    model.save_changes();
    setView(revealModule(index, collapsed, node.module ?? ""), keepFilter, node.id);
  }

  function reset() {
    inspect(null);
    setView(initialCollapsed(index), false, null);
    view.fit();
  }

  /** "Only problems" on: draw the filtered graph and bring the first problem into view. */
  function onProblemsToggle() {
    const first = index.modules.get("")?.problems[0];
    setView(collapsed, problems.checked, problems.checked && first ? drawnAs(index, collapsed, first) : null);
  }

  function showOverlay(text, kind, ...extra) {
    overlay.hidden = false;
    overlay.className = `gv-overlay gv-overlay-${kind}`;
    overlay.replaceChildren(h("p", {}, text), ...extra);
  }

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => (notice.hidden = true), NOTICE_MS);
  }

  const reload = () => load();
  const restyle = () => {
    norms = toFloat32(model.get("edge_norms"));
    hists = toFloat32(model.get("hists"));
    normRange = normRangeOf(norms);
    inspect(target);
    draw(visibleGraph(index, { collapsed, problemsOnly }, norms), null);
  };
  model.on("change:graph", reload);
  model.on("change:edge_norms", restyle);
  model.on("change:hists", restyle);
  load();

  const destroy = () => {
    pending = null;
    clearTimeout(noticeTimer);
    model.off("change:graph", reload);
    model.off("change:edge_norms", restyle);
    model.off("change:hists", restyle);
    view.destroy();
    root.remove();
  };
  const reveal = (id) => {
    if (index.byId.has(id)) jumpTo({ type: "node", id });
  };
  return { destroy, reveal, view };
}

const sameSet = (a, b) => a.size === b.size && [...a].every((x) => b.has(x));
