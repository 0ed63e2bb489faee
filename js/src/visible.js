// What is drawn: the graph after collapsing modules and the "only problems" filter.
// Pure functions of (index, view options); the widget keeps the options in the browser.
import { isProblem, modulePathChain } from "./graph-index.js";

/** The first view stays under this many drawn nodes (layout stays well under a second). */
export const FIRST_VIEW_NODES = 300;
/** Expanding one module adds at most about this many nodes (deeper modules stay collapsed). */
export const EXPAND_NODES = 250;
/** Never ask Graphviz for more: layout time grows ~quadratically and WASM stacks overflow near 2k. */
export const MAX_VISIBLE_NODES = 1000;

// Id of the node that stands for a collapsed module. State ids are short tokens (g12, p3, c0).
const MODULE_NODE_PREFIX = "__module_";
export const moduleNodeId = (m) => `${MODULE_NODE_PREFIX}${m.uid}`;

/** The module a collapsed-module node id stands for, or null for any other id. */
export function moduleOfNodeId(index, id) {
  if (!id.startsWith(MODULE_NODE_PREFIX)) return null;
  return index.byUid.get(Number(id.slice(MODULE_NODE_PREFIX.length))) ?? null;
}

/**
 * @typedef {object} VisibleItem
 * @property {string} id
 * @property {import("./types.js").GraphNode} [node]                   a real node ...
 * @property {import("./graph-index.js").ModuleInfo} [module]          ... or a collapsed module
 * @property {string} container   path of the module box it is drawn in ("" = none)
 *
 * @typedef {object} VisibleEdge
 * @property {string} source
 * @property {string} target
 * @property {string} kind
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
 * @param {import("./graph-index.js").GraphIndex} index
 * @param {Set<string>} collapsed
 * @param {string} rootPath
 * @param {number} budget
 */
export function expandWithin(index, collapsed, rootPath, budget) {
  const root = index.modules.get(rootPath);
  const next = new Set([...collapsed].filter((p) => p !== rootPath && !isBelow(p, rootPath)));
  if (root.total <= budget) return next;

  // levels[k]: modules k levels below root; count(k) = nodes above level k + non-empty modules at k.
  const levels = [[root]];
  while (levels.at(-1).length) {
    levels.push(levels.at(-1).flatMap((m) => m.children.map((c) => index.modules.get(c))));
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

/** The collapsed set a graph opens with. */
export function initialCollapsed(index, budget = FIRST_VIEW_NODES) {
  return expandWithin(index, new Set(), "", budget);
}

/**
 * Nodes kept by "only problems": problem parameters, cut markers, everything downstream of a
 * cut (its path to the loss) and the loss itself.
 * @param {import("./graph-index.js").GraphIndex} index
 * @returns {Set<string>}
 */
export function problemNodeIds(index) {
  const keep = new Set();
  const stack = [];
  for (const n of index.byId.values()) {
    if (n.kind === "loss" || isProblem(n)) keep.add(n.id);
    if (n.kind === "cut") stack.push(n.id);
  }
  while (stack.length) {
    const id = stack.pop();
    if (keep.has(id)) continue;
    keep.add(id);
    for (const e of index.outEdges.get(id) ?? []) {
      const t = index.edges[e].target;
      if (!keep.has(t)) stack.push(t);
    }
  }
  return keep;
}

/**
 * @param {import("./graph-index.js").GraphIndex} index
 * @param {{collapsed: Set<string>, problemsOnly: boolean}} options
 * @param {Float32Array} edgeNorms  one per edge of the state (index.edges[i].index)
 * @returns {VisibleGraph}
 */
export function visibleGraph(index, { collapsed, problemsOnly }, edgeNorms = new Float32Array(0)) {
  const kept = problemsOnly ? problemNodeIds(index) : null;

  // The item each module's content is drawn as: its outermost collapsed ancestor (or itself).
  const coverOf = new Map();
  const cover = (path) => {
    if (coverOf.has(path)) return coverOf.get(path);
    const hit = modulePathChain(path).find((p) => collapsed.has(p));
    const value = hit === undefined ? null : index.modules.get(hit);
    coverOf.set(path, value);
    return value;
  };

  const items = new Map();
  const repOf = new Map();
  for (const n of index.byId.values()) {
    if (kept && !kept.has(n.id)) continue;
    const m = cover(n.module ?? "");
    if (m) {
      const id = moduleNodeId(m);
      if (!items.has(id)) items.set(id, { id, module: m, container: m.parent ?? "" });
      repOf.set(n.id, id);
    } else {
      items.set(n.id, { id: n.id, node: n, container: n.module ?? "" });
      repOf.set(n.id, n.id);
    }
  }

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
 * The collapsed set with `path` and every module around it expanded, so that its content is
 * drawn. Modules inside the opened ones are collapsed as far as needed to keep the view small.
 */
export function revealModule(index, collapsed, path) {
  let next = new Set(collapsed);
  for (const p of modulePathChain(path)) {
    if (isCollapsedAt(next, p)) next = expandWithin(index, next, p, EXPAND_NODES);
  }
  return next;
}

/** The DOT id node `id` is drawn as: itself, or the outermost collapsed module around it. */
export function drawnAs(index, collapsed, id) {
  const node = index.byId.get(id);
  const hit = node && modulePathChain(node.module ?? "").find((p) => collapsed.has(p));
  return hit === undefined || !node ? id : moduleNodeId(index.modules.get(hit));
}

/** True when `path` or one of its ancestors is collapsed. */
export function isCollapsedAt(collapsed, path) {
  return modulePathChain(path).some((p) => collapsed.has(p));
}

const isBelow = (path, ancestor) => (ancestor === "" ? path !== "" : path.startsWith(`${ancestor}.`));
