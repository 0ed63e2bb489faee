// The widget: wires the model (synced traits), the view options, layout and the panels.
import { normRangeOf, toDot } from "../dot.js";
import { indexGraph } from "../graph-index.js";
import { formatCount } from "../format.js";
import { lookup } from "../lookup.js";
import { SHOWN_HITS, searchAll } from "../search.js";
import { toFloat32 } from "../state.js";
import {
  MAX_VISIBLE_NODES,
  drawnAs,
  focusNodeIds,
  initialView,
  isCollapsedAt,
  moduleNodeId,
  moduleOfNodeId,
  problemNodeIds,
  revealIn,
  revealNode,
  unfold,
  visibleGraph,
} from "../visible.js";
import { header, searchBox } from "./chrome.js";
import { h } from "./dom.js";
import { exportButtons } from "./export.js";
import { renderInspector } from "./inspector.js";
import { legend, whatifLegend } from "./legend.js";
import { Minimap } from "./minimap.js";
import { rememberScale, rememberedScale, scaleControl, validScale } from "./scale.js";
import { SvgView } from "./svg-view.js";
import { drawWhatif, removableWhatif, whatifMarks } from "./whatif.js";

const NOTICE_MS = 8000;
const BUSY_AFTER_MS = 200; // quick layouts do not flash the "Laying out" overlay
const MIN_STAGE_PX = 320; // the inspector needs room even next to a tiny graph
const INSPECTOR_PX = 320; // the inspector's width, unless a narrow drawing leaves it more
// a narrow drawing leaves the inspector more: its panel takes it, its text stays within 600 px
// (style.css, .gv-narrow): past that, lines of the verdict get too long to read
const STAGE_SLACK_PX = 32; // a canvas this much wider than the part of the drawing framed is wide enough
const VIEWPORT_SHARE = 0.8; // the graph and its toolbar take at most this share of the window's height
const FOCUS_ELEMENTS = 12; // a first view considers at most this many problem items

/** @typedef {import("../types.js").Graph} Graph */
/** @typedef {import("../visible.js").ViewOptions} ViewOptions */
/** @typedef {import("../visible.js").VisibleGraph} VisibleGraph */
/** @typedef {import("./inspector.js").InspectTarget} InspectTarget */
/** @typedef {{layout: (dot: string) => Promise<string>}} Layout */
/** @typedef {string|string[]|null} Focus   DOT ids (nodes or clusters) a view change brings into view, most telling first */

/**
 * The traits the graph panel reads: GraphWidget's (types.js GraphTraits), or the watch view's copy
 * of its graph traits (watch/graph-panel.js), whose graph is `{}` until the first backward.
 * @typedef {object} PanelTraits
 * @property {Graph|import("../types.js").EmptyObject} graph
 * @property {DataView} edge_norms
 * @property {DataView} hists
 * @property {string} selected
 */
/** @typedef {import("../types.js").ModelLike<PanelTraits>} PanelModel */

/**
 * Mount the widget in `el`. Returns the cleanup function anywidget calls on removal.
 * @param {HTMLElement} el
 * @param {import("../types.js").ModelLike<import("../types.js").GraphTraits>} model
 * @param {Layout} layout
 */
export function mountApp(el, model, layout) {
  const onScale = (/** @type {number} */ scale) => {
    model.set("scale", scale);
    model.save_changes();
  };
  const panel = mountGraph(el, model, layout, { scale: model.get("scale"), onScale });
  const fromPython = () => panel.setScale(model.get("scale"));
  model.on("change:scale", fromPython);
  return () => {
    model.off("change:scale", fromPython);
    panel.destroy();
  };
}

/**
 * @typedef {object} GraphOptions   what a host view (the watch view) adds to the graph panel
 * @property {(graph: Partial<Graph>, hasNorms: boolean) => Node} [legend]  replaces the severity legend
 * @property {(view: SvgView) => void} [onDraw]      after each drawing is shown (restyle nodes)
 * @property {(node: import("../types.js").GraphNode) => Node|null} [inspectorExtra]  a section added to a node's inspector
 * @property {number} [height]   fixed height of the graph area in px; default: follows the graph
 * @property {string} [exportName]  file name (no extension) of the SVG/PNG downloads
 * @property {number|undefined} [scale]   display scale asked for (ui/scale.js); absent or 0: the one this browser remembers
 * @property {(scale: number) => void} [onScale]  the user chose a display scale in the toolbar
 *
 * @typedef {object} GraphPanel
 * @property {() => void} destroy
 * @property {(id: string) => void} reveal   make node `id` visible, select and centre it
 * @property {(scale: unknown) => void} setScale   show at this display scale (ignored unless valid)
 * @property {SvgView} view
 */

/**
 * The graph panel: toolbar, SVG view and inspector, driven by the `graph`, `edge_norms`,
 * `hists` and `selected` traits of `model`.
 * @param {HTMLElement} el
 * @param {PanelModel} model
 * @param {Layout} layout
 * @param {GraphOptions} [options]
 * @returns {GraphPanel}
 */
export function mountGraph(el, model, layout, options = {}) {
  // Browser-only state: never synced back to Python (js/STATE.md). Only `selected` goes back.
  let index = indexGraph({ nodes: [], edges: [] });
  /** @type {Float32Array} */
  let norms = new Float32Array(0);
  /** @type {Float32Array} */
  let hists = new Float32Array(0);
  /** @type {{min: number, max: number}|null} */
  let normRange = null;
  /** @type {ViewOptions} */
  let shown = { collapsed: new Set(), problemsOnly: false, folds: new Set(), groups: new Set() };
  /** @type {InspectTarget|null} what the inspector shows */
  let target = null;
  /** @type {ViewOptions|null} view options of the latest layout request that has not failed */
  let requested = null;
  /** @type {{focus: Focus}|null} the layout request in flight; results of older requests are dropped */
  let pending = null;
  let draws = 0; // finished drawings, exposed as data-draws for tests and benchmarks
  let firstView = false; // the next drawing is the first of this graph: focus on what is wrong
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  let noticeTimer;
  /** @type {string|null} the cut marker toggled off (ui/whatif.js; one at a time), null: none */
  let whatif = null;

  /** the display scale: Python's request, else this browser's choice (browser-only state too) */
  let display = validScale(options.scale) ?? rememberedScale() ?? 1;
  const sizer = scaleControl(display, (scale) => {
    rememberScale(scale);
    setScale(scale);
    options.onScale?.(scale);
  });
  const problems = h("input", { type: "checkbox", onchange: () => onProblemsToggle() });
  const status = h("span", { class: "gv-status", "aria-live": "polite" });
  const notice = h("div", { class: "gv-notice", role: "status", hidden: true });
  const overlay = h("div", { class: "gv-overlay", hidden: true });
  const canvas = h("div", { class: "gv-canvas", tabindex: "0", "aria-label": "Autograd graph" });
  const panel = h("aside", { class: "gv-inspector", "aria-label": "Inspector" });
  const finder = searchBox({
    find: (q) => {
      const hits = searchAll(index, q);
      return { hits: hits.slice(0, SHOWN_HITS), total: hits.length };
    },
    go: jumpTo,
  });
  const top = h("div", { class: "gv-top" });
  const body = h("div", { class: "gv-body" }, h("div", { class: "gv-stage" }, canvas, overlay), panel);
  const root = h(
    "div",
    { class: "gradviz-root", "data-draws": "0" },
    top,
    h(
      "div",
      { class: "gv-toolbar" },
      finder.element,
      h("button", { type: "button", class: "gv-button", onclick: () => onFit(), title: "Fit the graph in view (as far as labels stay readable)" }, "Fit"),
      h("button", { type: "button", class: "gv-button", onclick: () => reset(), title: "Back to the first view" }, "Reset"),
      h("label", { class: "gv-toggle" }, problems, "Only problems"),
      exportButtons(() => view, () => options.exportName ?? fileName(index.graph)),
      sizer.element,
      status,
    ),
    notice,
    body,
  );
  root.style.height = "auto"; // the graph area sets the height (a host's fixed height would clip it)
  root.style.setProperty("--gv-scale", String(display));
  el.append(root);
  const view = new SvgView(canvas, { onNode, onClusterTitle, onPlainWheel });
  view.setDisplayScale(display);
  const minimap = new Minimap(/** @type {HTMLElement} */ (canvas.parentElement), view);

  /** @param {unknown} value */
  function setScale(value) {
    const scale = validScale(value);
    if (scale === null || scale === display) return;
    display = scale;
    sizer.set(scale);
    root.style.setProperty("--gv-scale", String(scale));
    view.setDisplayScale(scale);
    fitStage();
  }

  function load() {
    const graph = model.get("graph") ?? {};
    requested = null;
    index = indexGraph(graph);
    norms = toFloat32(model.get("edge_norms"));
    hists = toFloat32(model.get("hists"));
    normRange = normRangeOf(norms);
    whatif = null;
    showTop();
    const selected = index.byId.get(model.get("selected") ?? "") ?? null;
    shown = initialView(index);
    if (selected) shown = revealNode(index, shown, selected.id);
    let visible = visibleGraph(index, shown, norms);
    if (visible.items.length > MAX_VISIBLE_NODES) {
      shown = { ...shown, problemsOnly: true };
      visible = visibleGraph(index, shown, norms);
      showNotice("This graph is too large to draw whole, so only the problems are shown.");
    }
    problems.checked = shown.problemsOnly;
    // the inspector opens on what the first view centres on (or on the node Python asked for)
    inspect(selected ? { type: "node", id: selected.id } : problemTarget(shown, visible));
    if (!index.byId.size) return showOverlay("This trace recorded no autograd graph to draw.", "info");
    if (visible.items.length > MAX_VISIBLE_NODES) {
      return showOverlay(`${formatCount(visible.items.length)} nodes are outside any module: too many to draw.`, "error");
    }
    firstView = !selected;
    draw(visible, selected?.id ?? null);
  }

  /**
   * Apply new view options; refuses (with a notice) when the result would be too big to draw.
   * @param {ViewOptions} next
   * @param {Focus} focus  what to centre
   */
  function setView(next, focus) {
    const visible = visibleGraph(index, next, norms);
    if (visible.items.length > MAX_VISIBLE_NODES) {
      showNotice(
        `That would draw ${formatCount(visible.items.length)} nodes; the limit is ${formatCount(MAX_VISIBLE_NODES)}. ` +
          "Collapse other modules first, or turn on “Only problems”.",
      );
      problems.checked = shown.problemsOnly;
      return;
    }
    shown = next;
    problems.checked = shown.problemsOnly;
    if (target && !isDrawn(target, visible)) inspect(problemTarget(shown, visible)); // never a node that is gone
    if (!(requested && sameView(requested, shown))) {
      draw(visible, focus); // reports its own failure (an overlay with "Try again")
      return;
    }
    if (pending) pending.focus = focus;
    else showFocus(focus);
  }

  /**
   * @param {VisibleGraph} visible
   * @param {Focus} focus
   */
  async function draw(visible, focus) {
    const request = { focus };
    pending = request;
    requested = shown;
    const real = visible.items.filter((item) => item.node).length;
    const boxes = visible.items.length - real;
    status.textContent =
      `${formatCount(real)} of ${formatCount(index.byId.size)} nodes drawn` +
      (boxes ? ` · ${formatCount(boxes)} ${boxes === 1 ? "box holds" : "boxes hold"} the rest` : "");
    const busy = setTimeout(() => pending === request && showOverlay("Laying out the graph…", "busy"), BUSY_AFTER_MS);
    try {
      const svg = await layout.layout(toDot(index, visible, normRange));
      if (pending !== request) return;
      view.show(svg);
      options.onDraw?.(view);
      minimap.draw();
      showWhatif(); // after the overview's copy: it shows the drawing as laid out
    } catch (err) {
      if (pending !== request) return;
      pending = null;
      requested = null;
      const retry = h("button", { type: "button", class: "gv-button", onclick: () => draw(visible, focus) }, "Try again");
      return showOverlay(`Could not lay out the graph: ${err instanceof Error ? err.message : String(err)}`, "error", retry);
    } finally {
      clearTimeout(busy);
    }
    pending = null;
    overlay.hidden = true;
    if (firstView) {
      firstView = false;
      view.mark("gv-selected", targetIds());
      frame(problemElements());
    } else if (request.focus) {
      // a new drawing: frame what was asked for as a first view frames the problem
      view.mark("gv-selected", targetIds());
      const els = drawnElements(request.focus);
      frame(els.length ? els : problemElements());
    } else {
      fitStage();
      showFocus(null);
    }
    root.dataset.draws = String(++draws);
  }

  /**
   * The graph area follows the drawing: a drawing narrower than the canvas gives the inspector's panel
   * the width it does not use (a canvas wider than the drawing left a third of it blank beside a narrow
   * chain, "Only problems"), and the height follows the drawing within the window's height (or the
   * host's fixed height).
   */
  function fitStage(wanted = view.preferredWidth()) {
    const stage = /** @type {HTMLElement} */ (body.firstElementChild);
    const room = body.clientWidth;
    const width = Math.max(wanted, MIN_STAGE_PX * display);
    const narrow = room > 0 && width < room - INSPECTOR_PX * display;
    stage.style.flex = narrow ? `0 0 ${Math.round(width)}px` : "";
    body.classList.toggle("gv-narrow", narrow);
    fitHeight();
  }

  /**
   * A first view of a new drawing on `elements` (layout/frame.js, NOTE [framing]); when the part of the
   * drawing it shows is narrower than the canvas, the inspector takes the rest and the view is framed again.
   * @param {SVGGraphicsElement[]} elements
   */
  function frame(elements) {
    fitStage();
    view.focus(elements);
    const used = view.framedWidth();
    if (used && used + STAGE_SLACK_PX < canvas.clientWidth) {
      fitStage(Math.min(view.preferredWidth(), used + STAGE_SLACK_PX));
      view.focus(elements);
    }
    minimap.place(elements);
  }

  /** The graph area's height follows the drawing, within the window's height (or the host's fixed height). */
  function fitHeight() {
    if (options.height) return void (body.style.height = `${options.height}px`);
    const chrome = root.offsetHeight - body.offsetHeight;
    const max = (window.innerHeight || 800) * VIEWPORT_SHARE - chrome;
    body.style.height = `${view.preferredHeight(MIN_STAGE_PX * display, max)}px`;
  }

  /** The drawn elements that show what is wrong, most telling first (markers, groups, problems). */
  function problemElements() {
    /** @type {string[]} */
    const ids = [];
    for (const id of focusNodeIds(index)) {
      const drawn = drawnAs(index, shown, id);
      if (!ids.includes(drawn)) ids.push(drawn);
      if (ids.length >= FOCUS_ELEMENTS) break;
    }
    return ids.map((id) => view.nodes.get(id)).filter((g) => g !== undefined);
  }

  /**
   * Highlight what the inspector shows and centre `focus` (its first element) if given.
   * @param {Focus} focus
   */
  function showFocus(focus) {
    view.mark("gv-selected", targetIds());
    if (focus) view.centerOn(drawnElements(focus)[0]);
    minimap.place(drawnElements(focus));
  }

  /**
   * The drawn node or cluster groups of `focus`.
   * @param {Focus} focus
   * @returns {SVGGraphicsElement[]}
   */
  function drawnElements(focus) {
    const ids = focus === null ? [] : typeof focus === "string" ? [focus] : focus;
    return ids.map((id) => view.nodes.get(id) ?? view.clusters.get(id)).filter((g) => g !== undefined);
  }

  /**
   * What the inspector shows for the first problem (the one a first view centres on) as drawn with
   * `options`: its group, fold or collapsed module if it is inside one; null when there is no
   * problem, or it is not drawn.
   * @param {ViewOptions} options
   * @param {VisibleGraph} visible  the graph drawn with `options`
   * @returns {InspectTarget|null}
   */
  function problemTarget(options, visible) {
    const first = focusNodeIds(index)[0];
    if (first === undefined) return null;
    const drawn = drawnAs(index, options, first);
    const module = moduleOfNodeId(index, drawn);
    /** @type {InspectTarget} */
    const found = index.groupById.has(drawn)
      ? { type: "group", id: drawn }
      : index.foldById.has(drawn)
        ? { type: "fold", id: drawn }
        : module
          ? { type: "module", id: module.path }
          : { type: "node", id: first };
    return isDrawn(found, visible) ? found : null;
  }

  /**
   * True when `t` is in the drawing `visible`: a node as itself or inside the box drawn for it, a
   * module as a box or a collapsed node, a fold or group as one box or through one of its members.
   * @param {InspectTarget} t
   * @param {VisibleGraph} visible
   */
  function isDrawn(t, visible) {
    const items = new Set(visible.items.map((item) => item.id));
    /** @param {string} path */
    const moduleDrawn = (path) => {
      const m = index.modules.get(path);
      return !!m && (visible.boxes.has(path) || items.has(moduleNodeId(m)) || items.has(drawnAs(index, shown, m.nodes[0] ?? "")));
    };
    if (t.type === "node") return items.has(drawnAs(index, shown, t.id));
    if (t.type === "module") return moduleDrawn(t.id);
    if (t.type === "fold") return items.has(t.id) || (index.foldById.get(t.id)?.members ?? []).some(moduleDrawn);
    return items.has(t.id) || (index.groupById.get(t.id)?.members ?? []).some((id) => items.has(drawnAs(index, shown, id)));
  }

  /** @returns {string[]} */
  function targetIds() {
    if (target?.type === "node") return [drawnAs(index, shown, target.id)];
    if (target?.type === "module") {
      const m = index.modules.get(target.id);
      return m ? [moduleNodeId(m), `cluster_${m.uid}`] : [];
    }
    if (target?.type === "fold" || target?.type === "group") return [target.id];
    return [];
  }

  /** @param {InspectTarget|null} next */
  function inspect(next) {
    target = next;
    renderInspector(panel, target, {
      index,
      hists,
      reveal: (id) => jumpTo({ type: "node", id }),
      revealModule: (path) => jumpTo({ type: "module", id: path }),
      toggle,
      isCollapsed: (path) => isCollapsedAt(shown.collapsed, path),
      fold: (id, on) => setFold(id, on),
      group: (id, on) => setGroup(id, on),
      isFolded: (id) => !!shown.folds?.has(id),
      isGrouped: (id) => !!shown.groups?.has(id),
      whatif: { active: whatif, set: setWhatif },
      extra: options.inspectorExtra,
    });
    view.mark("gv-selected", targetIds());
  }

  /** @param {string} id */
  function onNode(id) {
    const module = moduleOfNodeId(index, id);
    if (module) return toggle(module.path);
    if (index.foldById.has(id)) return setFold(id, false);
    if (index.groupById.has(id)) return inspect({ type: "group", id });
    inspect({ type: "node", id });
    model.set("selected", id);
    model.save_changes();
  }

  /** @param {string} clusterId */
  function onClusterTitle(clusterId) {
    const uid = Number(clusterId.replace(/^cluster_/, ""));
    const m = index.byUid.get(uid);
    if (m) toggle(m.path);
  }

  function onPlainWheel() {
    showNotice("Hold Ctrl (⌘ on a Mac) while scrolling to zoom, or click the graph first.", 2500);
  }

  /**
   * Expand a collapsed module (and any collapsed ancestor), or collapse an expanded one.
   * @param {string} path
   */
  function toggle(path) {
    const m = lookup(index.modules, path);
    const expand = isCollapsedAt(shown.collapsed, path);
    const next = expand ? revealIn(index, shown, path) : { ...shown, collapsed: new Set([...shown.collapsed, path]) };
    setView(next, expand ? `cluster_${m.uid}` : moduleNodeId(m));
    inspect({ type: "module", id: path }); // after setView: its button reads the new collapsed state
  }

  /**
   * Fold a run of repeated blocks into one box (on), or draw each block as its own box (off).
   * @param {string} id
   * @param {boolean} on
   */
  function setFold(id, on) {
    const fold = lookup(index.foldById, id);
    const folds = new Set(shown.folds);
    if (on) folds.add(id);
    else folds.delete(id);
    const collapsed = on ? shown.collapsed : unfold(index, shown.collapsed, fold);
    // unfolded: its blocks together in view (the first of them, if they do not fit)
    const next = { ...shown, folds, collapsed };
    const blocks = fold.members.map((path) => lookup(index.modules, path));
    setView(next, on ? id : blocks.map((m) => (isCollapsedAt(collapsed, m.path) ? moduleNodeId(m) : `cluster_${m.uid}`)));
    inspect({ type: "fold", id });
  }

  /**
   * Draw a group of parameters as one box (on), or each parameter on its own (off).
   * @param {string} id
   * @param {boolean} on
   */
  function setGroup(id, on) {
    const group = lookup(index.groupById, id);
    const groups = new Set(shown.groups);
    if (on) groups.add(id);
    else groups.delete(id);
    setView({ ...shown, groups }, on ? id : group.marker);
    inspect({ type: "group", id });
  }

  /**
   * Search result or inspector link: make the node or module visible, centre and select it.
   * @param {{type: "node"|"module", id: string}} hit
   */
  function jumpTo(hit) {
    if (hit.type === "module") {
      const m = lookup(index.modules, hit.id);
      const next = revealIn(index, shown, m.parent ?? "");
      const fold = index.foldOf.get(m.path);
      const folded = fold && next.folds?.has(fold.id) ? unfoldAround(next, fold) : next;
      setView(folded, isCollapsedAt(folded.collapsed, m.path) ? moduleNodeId(m) : `cluster_${m.uid}`);
      return inspect({ type: "module", id: hit.id });
    }
    const node = lookup(index.byId, hit.id);
    const keepFilter = shown.problemsOnly && problemNodeIds(index).has(node.id);
    inspect({ type: "node", id: node.id });
    model.set("selected", node.id);
    model.save_changes();
    setView({ ...revealNode(index, shown, node.id), problemsOnly: keepFilter }, node.id);
  }

  /**
   * `options` with `fold` opened (its blocks drawn as boxes).
   * @param {ViewOptions} options
   * @param {import("../graph-index.js").Fold} fold
   * @returns {ViewOptions}
   */
  function unfoldAround(options, fold) {
    const folds = new Set(options.folds);
    folds.delete(fold.id);
    return { ...options, folds, collapsed: unfold(index, options.collapsed, fold) };
  }

  /** "Fit": the whole drawing, or as much as stays readable; says which, and when nothing changed. */
  function onFit() {
    const result = view.fit();
    const { w, h } = view.readableSize();
    const size = `${formatCount(Math.round(w))} × ${formatCount(Math.round(h))} px`;
    if (result === "whole") return;
    if (result === "already" && view.fitsWhole()) return showNotice("Already fitted: the whole graph is in view.", 2500);
    showNotice(
      `${result === "already" ? "Already fitted as far as labels stay readable: at" : "At"} the smallest readable size the graph is ` +
        `${size}, larger than this view. Drag to pan, or click the overview to go to a part.`,
    );
  }

  function reset() {
    finder.clear();
    setWhatif(null);
    target = null;
    firstView = true;
    setView(initialView(index), null);
    inspect(problemTarget(shown, visibleGraph(index, shown, norms)));
    if (!pending) {
      firstView = false;
      frame(problemElements());
    }
  }

  /** The title, notes and legend above the toolbar (with the what-if's key while a cut is toggled off). */
  function showTop() {
    const graph = index.graph;
    const key = whatif === null ? [] : [whatifLegend(graph.palette ?? {})];
    top.replaceChildren(header(graph), (options.legend ?? legend)(graph, normRange !== null), ...key);
  }

  /** Draw the what-if of the cut toggled off on the shown drawing, or none: the drawing as laid out. */
  function showWhatif() {
    drawWhatif(view.svg, view.nodes, whatif === null ? null : whatifMarks(index, shown, whatif));
    root.dataset.whatif = whatif ?? "";
  }

  /**
   * Toggle cut marker `id` off (one at a time), or put the cut back (null); the drawing is not laid out again.
   * @param {string|null} id
   */
  function setWhatif(id) {
    const next = removableWhatif(index, id) ? id : null;
    if (next === whatif) return;
    whatif = next;
    showWhatif();
    showTop();
    const focused = panel.contains(document.activeElement) && document.activeElement?.classList.contains("gv-whatif-toggle");
    inspect(target);
    if (focused) /** @type {HTMLElement|null} */ (panel.querySelector(".gv-whatif-toggle"))?.focus(); // keyboard users stay on it
  }

  /** "Only problems" on: draw the filtered graph and bring the first problem into view. */
  function onProblemsToggle() {
    const first = focusNodeIds(index)[0];
    const next = { ...shown, problemsOnly: problems.checked };
    setView(next, problems.checked && first ? drawnAs(index, next, first) : null);
  }

  /**
   * @param {string} text
   * @param {"info"|"busy"|"error"} kind
   * @param {...Node} extra
   */
  function showOverlay(text, kind, ...extra) {
    overlay.hidden = false;
    overlay.className = `gv-overlay gv-overlay-${kind}`;
    overlay.replaceChildren(h("p", {}, text), ...extra);
  }

  /** @param {string} text */
  function showNotice(text, ms = NOTICE_MS) {
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => (notice.hidden = true), ms);
  }

  const reload = () => load();
  const restyle = () => {
    norms = toFloat32(model.get("edge_norms"));
    hists = toFloat32(model.get("hists"));
    normRange = normRangeOf(norms);
    inspect(target);
    draw(visibleGraph(index, shown, norms), null);
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
    minimap.destroy();
    view.destroy();
    root.remove();
  };
  /** @param {string} id */
  const reveal = (id) => {
    if (index.byId.has(id)) jumpTo({ type: "node", id });
  };
  return { destroy, reveal, setScale, view };
}

/**
 * "gradviz-GPT": the model's name from the title ("GPT: 149 tensors checked, …"), file-name safe.
 * @param {Partial<Graph>} graph
 */
function fileName(graph) {
  const model = String(graph?.title ?? "").split(":")[0].trim();
  const safe = model.replace(/[^\w.-]+/g, "_").slice(0, 60);
  return safe ? `gradviz-${safe}` : "gradviz-graph";
}

/** @param {Set<string>} a @param {Set<string>} b */
const sameSet = (a, b) => a.size === b.size && [...a].every((x) => b.has(x));
/** @param {ViewOptions} a @param {ViewOptions} b */
const sameView = (a, b) =>
  a.problemsOnly === b.problemsOnly &&
  sameSet(a.collapsed, b.collapsed) &&
  sameSet(a.folds ?? new Set(), b.folds ?? new Set()) &&
  sameSet(a.groups ?? new Set(), b.groups ?? new Set());
