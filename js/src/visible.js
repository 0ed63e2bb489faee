// What is drawn: the graph after collapsing modules, folding repeated blocks, grouping parameters
// and the "only problems" filter. Pure functions of (index, view options); the widget keeps the
// options in the browser.
import { isMarker, isProblem, modulePathChain, worstOf } from "./graph-index.js";
import { lookup } from "./lookup.js";

/** @typedef {import("./graph-index.js").GraphIndex} GraphIndex */
/** @typedef {import("./graph-index.js").ModuleInfo} ModuleInfo */
/** @typedef {import("./graph-index.js").Fold} Fold */
/** @typedef {import("./types.js").GraphNode} GraphNode */

/** The first view stays under this many drawn nodes (layout stays well under a second). */
export const FIRST_VIEW_NODES = 300;
/** Expanding one module adds at most about this many nodes (deeper modules stay collapsed). */
export const EXPAND_NODES = 250;
/** Never ask Graphviz for more: layout time grows ~quadratically and WASM stacks overflow near 2k. */
export const MAX_VISIBLE_NODES = 1000;
/** Graphs with more nodes than this open with their repeated blocks folded. */
export const FOLD_ABOVE = 120;
/** A first view opens the modules of at most this many problems (the rest show as outlined boxes). */
const FOCUS_OPENS = 50;

// Ids of the nodes that stand for a collapsed module, a fold or a group. State ids are short
// tokens (g12, p3, c0, b0), so these never clash.
const MODULE_NODE_PREFIX = "__module_";
/** @param {ModuleInfo} m */
export const moduleNodeId = (m) => `${MODULE_NODE_PREFIX}${m.uid}`;

/**
 * The module a collapsed-module node id stands for, or null for any other id.
 * @param {GraphIndex} index
 * @param {string} id
 * @returns {ModuleInfo|null}
 */
export function moduleOfNodeId(index, id) {
  if (!id.startsWith(MODULE_NODE_PREFIX)) return null;
  return index.byUid.get(Number(id.slice(MODULE_NODE_PREFIX.length))) ?? null;
}

/**
 * What the user chose to see. `folds` and `groups` hold the ids of the folds and groups drawn as
 * one box; the others are drawn member by member.
 * @typedef {object} ViewOptions
 * @property {Set<string>} collapsed     module paths drawn as one node
 * @property {boolean} problemsOnly
 * @property {Set<string>} [folds]
 * @property {Set<string>} [groups]
 */

/**
 * @typedef {object} VisibleItem
 * @property {string} id
 * @property {import("./types.js").GraphNode} [node]                   a real node ...
 * @property {import("./graph-index.js").ModuleInfo} [module]          ... or a collapsed module
 * @property {import("./graph-index.js").Fold} [fold]                  ... or a run of folded blocks
 * @property {import("./graph-index.js").Group} [group]                ... or a group of parameters
 * @property {string} container   path of the module box it is drawn in ("" = none)
 * @property {number} count       state nodes it stands for
 * @property {import("./types.js").Severity|null} worst  worst problem severity among them
 * @property {number} problems    problem nodes among them
 *
 * @typedef {Omit<VisibleItem, "count"|"worst"|"problems">} ItemProto   what an item stands for
 *
 * @typedef {object} VisibleEdge
 * @property {string} source
 * @property {string} target
 * @property {import("./types.js").GraphEdge["kind"]} kind
 * @property {number} norm        largest captured norm of the merged edges, NaN if none
 *
 * @typedef {object} VisibleGraph
 * @property {VisibleItem[]} items
 * @property {VisibleEdge[]} edges
 * @property {Set<string>} boxes  module paths drawn as boxes (every container and its ancestors)
 */

/**
 * Collapse levels inside `rootPath` so that its content shows at most `budget` nodes: the deepest
 * uniform depth that fits, at least one level. Returns the new collapsed set (entries below
 * `rootPath` are replaced; `rootPath` itself is left expanded).
 * @param {GraphIndex} index
 * @param {Set<string>} collapsed
 * @param {string} rootPath
 * @param {number} budget
 * @returns {Set<string>}
 */
export function expandWithin(index, collapsed, rootPath, budget) {
  const root = lookup(index.modules, rootPath);
  const next = new Set([...collapsed].filter((p) => p !== rootPath && !isBelow(p, rootPath)));
  if (root.total <= budget) return next;

  // levels[k]: modules k levels below root; count(k) = nodes above level k + non-empty modules at k.
  const levels = [[root]];
  for (let last = levels[0]; last.length; last = levels[levels.length - 1]) {
    levels.push(last.flatMap((m) => m.children.map((c) => lookup(index.modules, c))));
  }
  let above = 0;
  let chosen = 1;
  for (let k = 1; k < levels.length - 1; k++) {
    above += levels[k - 1].reduce((s, m) => s + m.nodes.length, 0);
    const shown = above + levels[k].filter((m) => m.total > 0).length;
    if (shown > budget) break;
    chosen = k;
  }
  for (const m of levels[chosen] ?? []) if (m.total > 0) next.add(m.path);
  return next;
}

/**
 * The collapsed set a graph opens with (modules only; see `initialView` for the whole first view).
 * @param {GraphIndex} index
 */
export function initialCollapsed(index, budget = FIRST_VIEW_NODES) {
  return expandWithin(index, new Set(), "", budget);
}

/**
 * The view a graph opens with: repeated blocks folded (big graphs), parameter groups closed, modules
 * collapsed level by level to stay under `budget` drawn nodes, and every module that holds a problem or
 * a marker opened, so that the first drawing shows what is wrong.
 * @param {GraphIndex} index
 * @returns {ViewOptions}
 */
export function initialView(index, budget = FIRST_VIEW_NODES) {
  const folds = new Set(index.byId.size > FOLD_ABOVE ? index.folds.map((f) => f.id) : []);
  const groups = new Set(index.groups.map((g) => g.id));
  /** @param {Set<string>} collapsed */
  const count = (collapsed) => visibleGraph(index, { collapsed, problemsOnly: false, folds, groups }).items.length;
  const depths = [...new Set([...index.modules.values()].map((m) => m.depth))].filter((d) => d > 0).sort((a, b) => a - b);
  /** @type {Set<string>} */
  let collapsed = new Set();
  if (count(collapsed) > budget) {
    /**
     * The deepest uniform depth whose collapsed modules keep the drawing under budget (at least depth 1).
     * @param {number} d
     */
    const atDepth = (d) => new Set([...index.modules.values()].filter((m) => m.depth === d && m.total > 0).map((m) => m.path));
    collapsed = atDepth(depths[0] ?? 1);
    for (const d of depths.slice(1)) {
      const next = atDepth(d);
      if (count(next) > budget) break;
      collapsed = next;
    }
  }
  // Open what is wrong, most telling first, while the drawing stays within budget (the first always).
  const focus = focusNodeIds(index).slice(0, FOCUS_OPENS);
  for (const id of focus) {
    const n = lookup(index.byId, id);
    const group = index.groupOf.get(id);
    const next = revealModule(index, collapsed, group && groups.has(group.id) ? group.container : (n.module ?? ""));
    if (next.size === collapsed.size && [...next].every((p) => collapsed.has(p))) continue;
    if (id !== focus[0] && count(next) > budget) break;
    collapsed = next;
  }
  return { collapsed, problemsOnly: false, folds, groups };
}

/**
 * Ids of the nodes a first view must show: markers first, then problem nodes.
 * @param {GraphIndex} index
 * @returns {string[]}
 */
export function focusNodeIds(index) {
  /** @type {string[]} */
  const markers = [];
  /** @type {string[]} */
  const problems = [];
  for (const n of index.byId.values()) {
    if (isMarker(n)) markers.push(n.id);
    else if (isProblem(n)) problems.push(n.id);
  }
  /** @param {string} id */
  const rank = (id) => (lookup(index.byId, id).kind === "birth" ? 0 : 1);
  /** @param {string} a @param {string} b */
  const birthFirst = (a, b) => rank(a) - rank(b);
  return [...markers.sort(birthFirst), ...problems];
}

/**
 * Nodes kept by "only problems": problem nodes, markers, everything downstream of a marker or a
 * problem op (its path to the loss) and the loss itself.
 * @param {GraphIndex} index
 * @returns {Set<string>}
 */
export function problemNodeIds(index) {
  /** @type {Set<string>} */
  const keep = new Set();
  /** @type {string[]} */
  const stack = [];
  for (const n of index.byId.values()) {
    if (n.kind === "loss" || isProblem(n)) keep.add(n.id);
    if (isMarker(n) || (n.kind === "op" && isProblem(n))) stack.push(n.id);
  }
  const seen = new Set();
  for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
    if (seen.has(id)) continue;
    seen.add(id);
    keep.add(id);
    for (const e of index.outEdges.get(id) ?? []) {
      const t = index.edges[e].target;
      if (!seen.has(t)) stack.push(t);
    }
  }
  return keep;
}

/**
 * @param {GraphIndex} index
 * @param {ViewOptions} options
 * @param {Float32Array} edgeNorms  one per edge of the state (index.edges[i].index)
 * @returns {VisibleGraph}
 */
export function visibleGraph(index, { collapsed, problemsOnly, folds = NONE, groups = NONE }, edgeNorms = new Float32Array(0)) {
  const kept = problemsOnly ? problemNodeIds(index) : null;

  // The item a module's content is drawn as: its outermost folded or collapsed ancestor (or none).
  /** @type {Map<string, ItemProto|null>} */
  const coverOf = new Map();
  /**
   * @param {string} path
   * @returns {ItemProto|null}
   */
  const cover = (path) => {
    const known = coverOf.get(path);
    if (known !== undefined) return known;
    /** @type {ItemProto|null} */
    let value = null;
    for (const p of modulePathChain(path)) {
      const fold = index.foldOf.get(p);
      if (fold && folds.has(fold.id)) value = { id: fold.id, fold, container: fold.parent };
      else if (collapsed.has(p)) {
        const m = lookup(index.modules, p);
        value = { id: moduleNodeId(m), module: m, container: m.parent ?? "" };
      }
      if (value) break;
    }
    coverOf.set(path, value);
    return value;
  };

  /** @type {Map<string, VisibleItem>} */
  const items = new Map();
  /** @type {Map<string, GraphNode[]>} item id -> its problem nodes */
  const membersOf = new Map();
  /** @type {Map<string, string>} */
  const repOf = new Map();
  /**
   * @param {ItemProto} proto
   * @param {GraphNode} n
   */
  const add = (proto, n) => {
    let item = items.get(proto.id);
    if (!item) items.set(proto.id, (item = { ...proto, count: 0, worst: null, problems: 0 }));
    item.count += 1;
    if (isProblem(n)) {
      item.problems += 1;
      const members = membersOf.get(proto.id);
      if (members) members.push(n);
      else membersOf.set(proto.id, [n]);
    }
    repOf.set(n.id, proto.id);
  };
  for (const n of index.byId.values()) {
    if (kept && !kept.has(n.id)) continue;
    const group = index.groupOf.get(n.id);
    if (group && groups.has(group.id)) {
      add(cover(group.container) ?? { id: group.id, group, container: group.container }, n);
      continue;
    }
    add(cover(n.module ?? "") ?? { id: n.id, node: n, container: n.module ?? "" }, n);
  }
  for (const item of items.values()) item.worst = worstOf(membersOf.get(item.id) ?? []);

  /** @type {Map<string, VisibleEdge>} */
  const merged = new Map();
  for (const e of index.edges) {
    const source = repOf.get(e.source);
    const target = repOf.get(e.target);
    if (source === undefined || target === undefined || source === target) continue;
    const key = `${source}\u0000${target}\u0000${e.kind}`;
    const norm = e.index < edgeNorms.length ? edgeNorms[e.index] : NaN;
    const prev = merged.get(key);
    if (!prev) merged.set(key, { source, target, kind: e.kind, norm });
    else if (Number.isFinite(norm) && !(prev.norm >= norm)) prev.norm = norm;
  }

  const boxes = new Set();
  for (const item of items.values()) for (const p of modulePathChain(item.container)) boxes.add(p);
  return { items: [...items.values()], edges: [...merged.values()], boxes };
}

/**
 * The options with `path` and every module around it shown: collapsed ancestors expanded, folds
 * around them opened. Modules inside the opened ones are collapsed as far as needed to keep the
 * view small.
 * @param {GraphIndex} index
 * @param {ViewOptions} options
 * @param {string} path
 * @returns {ViewOptions}
 */
export function revealIn(index, options, path) {
  const folds = new Set(options.folds ?? NONE);
  for (const p of modulePathChain(path)) {
    const fold = index.foldOf.get(p);
    if (fold && folds.delete(fold.id)) options = { ...options, collapsed: unfold(index, options.collapsed, fold) };
  }
  return { ...options, folds, collapsed: revealModule(index, options.collapsed, path) };
}

/**
 * The options with node `id` drawn as itself (its group opened, its module revealed).
 * @param {GraphIndex} index
 * @param {ViewOptions} options
 * @param {string} id
 * @returns {ViewOptions}
 */
export function revealNode(index, options, id) {
  const node = index.byId.get(id);
  const group = index.groupOf.get(id);
  const groups = new Set(options.groups ?? NONE);
  if (group) groups.delete(group.id);
  return revealIn(index, { ...options, groups }, node?.module ?? "");
}

/**
 * `collapsed` plus each member of `fold`, so that opening a fold draws its blocks as boxes.
 * @param {GraphIndex} index
 * @param {Set<string>} collapsed
 * @param {Fold} fold
 * @returns {Set<string>}
 */
export function unfold(index, collapsed, fold) {
  const next = new Set(collapsed);
  for (const p of fold.members) if (lookup(index.modules, p).total > 0) next.add(p);
  return next;
}

/**
 * The collapsed set with `path` and every module around it expanded, so that its content is
 * drawn. Modules inside the opened ones are collapsed as far as needed to keep the view small.
 * @param {GraphIndex} index
 * @param {Set<string>} collapsed
 * @param {string} path
 * @returns {Set<string>}
 */
export function revealModule(index, collapsed, path) {
  let next = new Set(collapsed);
  for (const p of modulePathChain(path)) {
    if (isCollapsedAt(next, p)) next = expandWithin(index, next, p, EXPAND_NODES);
  }
  return next;
}

/**
 * The DOT id node `id` is drawn as: itself, its group, or the outermost collapsed module or fold around it.
 * @param {GraphIndex} index
 * @param {Set<string>|Pick<ViewOptions, "collapsed"|"folds"|"groups">} collapsedOrOptions
 * @param {string} id
 * @returns {string}
 */
export function drawnAs(index, collapsedOrOptions, id) {
  const options = collapsedOrOptions instanceof Set ? { collapsed: collapsedOrOptions } : collapsedOrOptions;
  const { collapsed, folds = NONE, groups = NONE } = options;
  const node = index.byId.get(id);
  if (!node) return id;
  const group = index.groupOf.get(id);
  const inGroup = group && groups.has(group.id);
  for (const p of modulePathChain(inGroup ? group.container : (node.module ?? ""))) {
    const fold = index.foldOf.get(p);
    if (fold && folds.has(fold.id)) return fold.id;
    if (collapsed.has(p)) return moduleNodeId(lookup(index.modules, p));
  }
  return inGroup ? group.id : id;
}

/**
 * True when `path` or one of its ancestors is collapsed.
 * @param {Set<string>} collapsed
 * @param {string} path
 */
export function isCollapsedAt(collapsed, path) {
  return modulePathChain(path).some((p) => collapsed.has(p));
}

/** @type {Set<string>} */
const NONE = new Set();
/** @param {string} path @param {string} ancestor */
const isBelow = (path, ancestor) => (ancestor === "" ? path !== "" : path.startsWith(`${ancestor}.`));
