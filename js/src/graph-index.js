// Lookup structures over the `graph` trait: the module tree (the cluster boxes) and the
// edge adjacency. Built once per graph; everything else reads it and never mutates it.
import { lookup } from "./lookup.js";

/** @typedef {import("./types.js").Graph} Graph */
/** @typedef {import("./types.js").GraphNode} GraphNode */
/** @typedef {import("./types.js").GraphEdge} GraphEdge */
/** @typedef {import("./types.js").Severity} Severity */

/** Severities that mean "look at this parameter". `frozen` is usually on purpose. */
/** @type {Set<Severity|null>} */
const PROBLEM_SEVERITIES = new Set(["red", "zero", "nonfinite"]);

/** Marker nodes Python adds to explain problems: a cut in the graph, a NaN/Inf birthplace. */
/** @type {Set<GraphNode["kind"]>} */
const MARKER_KINDS = new Set(["cut", "birth"]);

/** Parameters that share one marker and one verdict are drawn as one box from this many on. */
export const GROUP_MIN = 5;

// Which colour a collapsed module borrows when it hides problems, worst first.
/** @type {Severity[]} */
const WORST_FIRST = ["nonfinite", "red", "zero"];

/**
 * @typedef {object} ModuleInfo
 * @property {string} path        "" is the root module
 * @property {string} type
 * @property {number} uid         small integer: DOT cluster id `cluster_<uid>` and collapsed node id
 * @property {number} depth       number of path segments ("" -> 0, "enc.0" -> 2)
 * @property {string|null} parent
 * @property {string[]} children  child module paths
 * @property {string[]} nodes     ids of the nodes directly in this module
 * @property {number} total       nodes in this module and all its descendants
 * @property {string[]} problems  ids of problem parameters in the subtree
 * @property {Severity|null} worst  worst problem severity in the subtree
 * @property {number} markers     cut and birth markers in the subtree
 * @property {number} shape       structure id: equal ids mean the same types, ops and submodules
 */

/**
 * A run of sibling modules with the same structure (`blocks.0` … `blocks.11`), drawn as one box.
 * @typedef {object} Fold
 * @property {string} id          DOT node id, `__fold_<n>`
 * @property {string} parent      path of the module that holds the run
 * @property {string[]} members   module paths, in order
 * @property {string} label       "blocks.0–11 · Block ×12"
 * @property {number} total       nodes inside the members
 */

/**
 * Parameters cut off by one marker with one verdict, drawn as one box.
 * @typedef {object} Group
 * @property {string} id          DOT node id, `__group_<n>`
 * @property {string} marker      id of the cut (or birth) marker they hang off
 * @property {string[]} members   parameter node ids
 * @property {string} container   deepest module holding every member ("" = top level)
 * @property {string} label       "blocks.* — 24 parameters, checkpoint"
 * @property {Severity|null} severity
 */

/**
 * An edge whose ends exist, with its position in `graph.edges` (and in the `edge_norms` trait).
 * @typedef {GraphEdge & {index: number}} IndexedEdge
 */

/**
 * @typedef {object} GraphIndex
 * @property {Partial<Graph>} graph   as sent (`{}`: nothing captured yet)
 * @property {Map<string, GraphNode>} byId
 * @property {Map<string, ModuleInfo>} modules
 * @property {Map<number, ModuleInfo>} byUid
 * @property {IndexedEdge[]} edges   edges whose ends exist
 * @property {Map<string, number[]>} outEdges   node id -> positions in `edges` (forward: source feeds target)
 * @property {Map<string, number[]>} inEdges
 * @property {Fold[]} folds
 * @property {Map<string, Fold>} foldOf      module path -> the fold it is a member of
 * @property {Map<string, Fold>} foldById
 * @property {Group[]} groups
 * @property {Map<string, Group>} groupOf    node id -> the group it is a member of
 * @property {Map<string, Group>} groupById
 */

/** @param {string} path */
const parentPath = (path) => (path === "" ? null : path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "");

/**
 * @param {Partial<Graph>} graph
 * @returns {GraphIndex}
 */
export function indexGraph(graph) {
  const nodes = withModules(graph.nodes ?? [], graph.edges ?? [], graph.modules ?? []);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  /** @type {Map<string, ModuleInfo>} */
  const modules = new Map();

  /**
   * @param {string} path
   * @returns {ModuleInfo}
   */
  const ensure = (path) => {
    let m = modules.get(path);
    if (m) return m;
    const parent = parentPath(path);
    m = {
      path,
      type: "",
      uid: modules.size,
      depth: path === "" ? 0 : path.split(".").length,
      parent,
      children: [],
      nodes: [],
      total: 0,
      problems: [],
      worst: null,
      markers: 0,
      shape: 0,
    };
    modules.set(path, m);
    if (parent !== null) ensure(parent).children.push(path);
    return m;
  };

  ensure("");
  for (const { path, type } of graph.modules ?? []) ensure(path).type = type ?? "";
  for (const n of nodes) ensure(n.module ?? "").nodes.push(n.id);

  // Subtree totals, problems and structure ids, deepest modules first so each adds into its parent once.
  /** @type {Map<string, number>} */
  const shapes = new Map();
  const deepestFirst = [...modules.values()].sort((a, b) => b.depth - a.depth);
  for (const m of deepestFirst) {
    m.total += m.nodes.length;
    for (const id of m.nodes) {
      const n = byId.get(id);
      if (isProblem(n)) m.problems.push(id);
      if (isMarker(n)) m.markers += 1;
    }
    m.worst = worstOf(m.problems.map((id) => byId.get(id)));
    m.shape = shapeOf(m, byId, modules, shapes);
    if (m.parent !== null) {
      const p = lookup(modules, m.parent);
      p.total += m.total;
      p.problems.push(...m.problems);
      p.markers += m.markers;
    }
  }

  /** @type {IndexedEdge[]} */
  const edges = [];
  /** @type {Map<string, number[]>} */
  const outEdges = new Map();
  /** @type {Map<string, number[]>} */
  const inEdges = new Map();
  (graph.edges ?? []).forEach((e, index) => {
    if (!byId.has(e.source) || !byId.has(e.target)) return;
    const pos = edges.push({ source: e.source, target: e.target, kind: e.kind, index }) - 1;
    push(outEdges, e.source, pos);
    push(inEdges, e.target, pos);
  });

  const byUid = new Map([...modules.values()].map((m) => [m.uid, m]));
  const folds = findFolds(modules);
  const groups = findGroups(graph, byId, edges, inEdges);
  return {
    graph,
    byId,
    modules,
    byUid,
    edges,
    outEdges,
    inEdges,
    folds,
    foldOf: new Map(folds.flatMap((f) => f.members.map((p) => [p, f]))),
    foldById: new Map(folds.map((f) => [f.id, f])),
    groups,
    groupOf: new Map(groups.flatMap((g) => g.members.map((id) => [id, g]))),
    groupById: new Map(groups.map((g) => [g.id, g])),
  };
}

/**
 * A graph captured without a forward trace (a watch graph, `gradviz.diagnose`) knows the module of
 * its parameters but not of its ops: every op sits at the top level and nothing can be collapsed.
 * Such ops get the deepest module that holds both the nearest module-bearing node below them (towards
 * the parameters) and the nearest above (towards the loss); with only a module below, that module (a
 * watch graph ends at the model's output); with only one above, its parent. A list of blocks (children named 0, 1, …) runs no ops of its own: an op placed there goes to
 * the block below it, where it was computed (the residual sum at the end of a block). The copies carry
 * `moduleInferred: true` so that the inspector can say so.
 * @param {GraphNode[]} nodes
 * @param {GraphEdge[]} edges
 * @param {{path: string}[]} modules
 * @returns {GraphNode[]}
 */
function withModules(nodes, edges, modules) {
  /** @param {GraphNode} n */
  const isOp = (n) => n.kind === "op" || n.kind === "loss";
  if (nodes.some((n) => isOp(n) && n.module) || !nodes.some((n) => !isOp(n) && n.module)) return nodes;
  const params = new Map(nodes.filter((n) => !isOp(n) && n.module).map((n) => [n.id, n.module]));
  const known = new Map(params);
  const ids = new Set(nodes.map((n) => n.id));
  /** @type {Map<string, string[]>} */
  const consumers = new Map();
  /** @type {Map<string, string[]>} */
  const producers = new Map();
  for (const e of edges) {
    if (e.kind !== "grad" || !ids.has(e.source) || !ids.has(e.target)) continue;
    push(consumers, e.source, e.target);
    push(producers, e.target, e.source);
  }
  // An op that reads parameters of one module is in that module.
  for (const n of nodes) {
    if (!isOp(n)) continue;
    const mods = (producers.get(n.id) ?? []).map((id) => params.get(id)).filter((m) => m !== undefined);
    if (mods.length && mods.every((m) => m === mods[0])) known.set(n.id, mods[0]);
  }
  /**
   * For each node, the modules of the nearest known nodes in one direction (ties kept, a few at most).
   * @param {Map<string, string[]>} next
   */
  const nearest = (next) => {
    const found = new Map([...known].map(([id, m]) => [id, [m]]));
    let frontier = [...known.keys()];
    while (frontier.length) {
      /** @type {Map<string, string[]>} */
      const reached = new Map();
      for (const id of frontier) {
        for (const other of next.get(id) ?? []) {
          if (found.has(other)) continue;
          const list = reached.get(other) ?? [];
          for (const m of lookup(found, id)) if (list.length < 4 && !list.includes(m)) list.push(m);
          reached.set(other, list);
        }
      }
      for (const [id, list] of reached) found.set(id, list);
      frontier = [...reached.keys()];
    }
    return found;
  };
  const below = nearest(consumers); // reached from a known node through its consumers: the module below
  const above = nearest(producers);
  /** @param {string} path */
  const parentOf = (path) => (path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "");
  const lists = new Set(modules.map((m) => m.path).filter((p) => /(^|\.)\d+$/.test(p)).map(parentOf));
  /**
   * @param {string} b  a module below
   * @param {string} a  a module above
   */
  const place = (b, a) => {
    const path = b.split(".");
    let depth = commonPrefix([path, a.split(".")]).length;
    if (depth < path.length && lists.has(path.slice(0, depth).join("."))) depth += 1;
    else if (depth + 1 < path.length && lists.has(path.slice(0, depth + 1).join("."))) depth += 2;
    return path.slice(0, depth).join(".");
  };
  return nodes.map((n) => {
    if (!isOp(n) || n.kind === "loss") return n;
    let module = known.get(n.id);
    if (module === undefined) {
      const [bs, as] = [below.get(n.id) ?? [], above.get(n.id) ?? []];
      if (bs.length && as.length) {
        // of the candidate pairs, the one that shares the most: the op sits between them
        /** @param {string} m */
        const depthOf = (m) => (m ? m.split(".").length : 0);
        module = bs.flatMap((b) => as.map((a) => place(b, a))).reduce((x, y) => (depthOf(y) > depthOf(x) ? y : x));
      } else module = bs.length ? bs[0] : parentOf(as[0] ?? ""); // the last ops of the model's output module
    }
    return module ? { ...n, module, moduleInferred: true } : n;
  });
}

/**
 * A node whose severity means "look here": a parameter, leaf or op (the op where a NaN was born).
 * @param {GraphNode|null|undefined} n
 */
export function isProblem(n) {
  return !!n && (n.kind === "param" || n.kind === "leaf" || n.kind === "op") && PROBLEM_SEVERITIES.has(n.severity);
}

/**
 * A cut or NaN-birth marker node.
 * @param {GraphNode|null|undefined} n
 */
export const isMarker = (n) => !!n && MARKER_KINDS.has(n.kind);

/**
 * The worst problem severity among `nodes`, or null.
 * @param {(GraphNode|null|undefined)[]} nodes
 * @returns {Severity|null}
 */
export const worstOf = (nodes) => WORST_FIRST.find((s) => nodes.some((n) => n?.severity === s)) ?? null;

/**
 * A small integer per distinct structure: type, the ops and parameter shapes directly inside, and the
 * children's names and structures. Names of parameters are left out (they carry the module path).
 * @param {ModuleInfo} m
 * @param {Map<string, GraphNode>} byId
 * @param {Map<string, ModuleInfo>} modules
 * @param {Map<string, number>} shapes  structure key -> id, filled here
 * @returns {number}
 */
function shapeOf(m, byId, modules, shapes) {
  const own = m.nodes
    .map((id) => {
      const n = lookup(byId, id);
      return n.kind === "param" || n.kind === "leaf" ? `${n.kind}:${n.tensor?.shape ?? ""}` : `${n.kind}:${n.label}`;
    })
    .sort();
  const children = m.children.map((c) => `${c.slice(c.lastIndexOf(".") + 1)}=${lookup(modules, c).shape}`);
  const key = `${m.type}|${own.join(",")}|${children.join(",")}`;
  let shape = shapes.get(key);
  if (shape === undefined) shapes.set(key, (shape = shapes.size + 1));
  return shape;
}

/**
 * Runs of at least two consecutive numbered siblings (`blocks.3`, `blocks.4`, …) with one type and one
 * structure, and nothing to look at inside (no problem, no marker): the stack of identical blocks.
 * @param {Map<string, ModuleInfo>} modules
 * @returns {Fold[]}
 */
function findFolds(modules) {
  /** @type {Fold[]} */
  const folds = [];
  /** @param {string} path */
  const numberOf = (path) => {
    const last = path.slice(path.lastIndexOf(".") + 1);
    return /^\d+$/.test(last) ? Number(last) : null;
  };
  for (const parent of modules.values()) {
    /** @type {string[][]} */
    const runs = [];
    /** @type {string[]} */
    let run = [];
    for (const path of parent.children) {
      const m = lookup(modules, path);
      const n = numberOf(path);
      const plain = n !== null && m.total > 0 && !m.problems.length && !m.markers;
      const prev = run.length ? lookup(modules, run[run.length - 1]) : null;
      if (plain && prev && numberOf(prev.path) === n - 1 && prev.shape === m.shape) run.push(path);
      else {
        runs.push(run);
        run = plain ? [path] : [];
      }
    }
    runs.push(run);
    for (const members of runs) {
      if (members.length < 2) continue;
      const first = lookup(modules, members[0]);
      const base = parent.path ? `${parent.path}.` : "";
      folds.push({
        id: `__fold_${folds.length}`,
        parent: parent.path,
        members,
        label: `${base}${numberOf(first.path)}–${numberOf(members[members.length - 1])}${first.type ? ` · ${first.type}` : ""} ×${members.length}`,
        total: members.reduce((sum, p) => sum + lookup(modules, p).total, 0),
      });
    }
  }
  return folds;
}

/**
 * Parameters hanging off one marker (their dashed edge) with one verdict, GROUP_MIN or more of them.
 * @param {Partial<Graph>} graph
 * @param {Map<string, GraphNode>} byId
 * @param {IndexedEdge[]} edges
 * @param {Map<string, number[]>} inEdges
 * @returns {Group[]}
 */
function findGroups(graph, byId, edges, inEdges) {
  /** @type {Group[]} */
  const groups = [];
  for (const marker of byId.values()) {
    if (!isMarker(marker)) continue;
    /** @type {Map<string, {cause: string, members: GraphNode[]}>} */
    const buckets = new Map();
    for (const e of inEdges.get(marker.id) ?? []) {
      const n = lookup(byId, edges[e].source);
      if (n.kind !== "param" && n.kind !== "leaf") continue;
      const v = n.verdict != null ? graph.verdicts?.[n.verdict] : null;
      const key = `${n.severity}\u0000${v?.cause ?? ""}\u0000${v?.where ?? ""}`;
      let bucket = buckets.get(key);
      if (!bucket) buckets.set(key, (bucket = { cause: v?.cause ?? n.severity ?? "", members: [] }));
      bucket.members.push(n);
    }
    for (const { cause, members } of buckets.values()) {
      if (members.length < GROUP_MIN) continue;
      const names = members.map((n) => n.tensor?.name ?? n.label);
      const prefix = commonPrefix(names.map((name) => name.split(".").slice(0, -1)));
      groups.push({
        id: `__group_${groups.length}`,
        marker: marker.id,
        members: members.map((n) => n.id),
        container: commonPrefix(members.map((n) => (n.module ? n.module.split(".") : []))).join("."),
        label: `${prefix.length ? `${prefix.join(".")}.* — ` : ""}${members.length} parameters${cause ? `, ${cause}` : ""}`,
        severity: members[0].severity ?? null,
      });
    }
  }
  return groups;
}

/**
 * @param {string[][]} lists
 * @returns {string[]}
 */
function commonPrefix(lists) {
  const out = [];
  for (let i = 0; lists.length && lists.every((l) => i < l.length && l[i] === lists[0][i]); i++) out.push(lists[0][i]);
  return out;
}

/**
 * Module paths from the outermost ancestor down to `path` itself, root excluded.
 * @param {string} path
 * @returns {string[]}
 */
export function modulePathChain(path) {
  if (!path) return [];
  const parts = path.split(".");
  return parts.map((_, i) => parts.slice(0, i + 1).join("."));
}

/**
 * @template T
 * @param {Map<string, T[]>} map
 * @param {string} key
 * @param {T} value
 */
function push(map, key, value) {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
