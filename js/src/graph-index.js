// Lookup structures over the `graph` trait: the module tree (the cluster boxes) and the
// edge adjacency. Built once per graph; everything else reads it and never mutates it.

/** Severities that mean "look at this parameter". `frozen` is usually on purpose. */
const PROBLEM_SEVERITIES = new Set(["red", "zero", "nonfinite"]);

// Which colour a collapsed module borrows when it hides problems, worst first.
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
 * @property {string|null} worst  worst problem severity in the subtree
 */

/**
 * @typedef {object} GraphIndex
 * @property {import("./types.js").Graph} graph
 * @property {Map<string, import("./types.js").GraphNode>} byId
 * @property {Map<string, ModuleInfo>} modules
 * @property {Map<number, ModuleInfo>} byUid
 * @property {{source: string, target: string, kind: string, index: number}[]} edges  edges whose ends exist
 * @property {Map<string, number[]>} outEdges   node id -> positions in `edges` (forward: source feeds target)
 * @property {Map<string, number[]>} inEdges
 */

const parentPath = (path) => (path === "" ? null : path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "");

/**
 * @param {import("./types.js").Graph} graph
 * @returns {GraphIndex}
 */
export function indexGraph(graph) {
  const nodes = graph.nodes ?? [];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  /** @type {Map<string, ModuleInfo>} */
  const modules = new Map();

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
    };
    modules.set(path, m);
    if (parent !== null) ensure(parent).children.push(path);
    return m;
  };

  ensure("");
  for (const { path, type } of graph.modules ?? []) ensure(path).type = type ?? "";
  for (const n of nodes) ensure(n.module ?? "").nodes.push(n.id);

  // Subtree totals and problems, deepest modules first so each adds into its parent once.
  const deepestFirst = [...modules.values()].sort((a, b) => b.depth - a.depth);
  for (const m of deepestFirst) {
    m.total += m.nodes.length;
    for (const id of m.nodes) {
      const n = byId.get(id);
      if (isProblem(n)) m.problems.push(id);
    }
    m.worst = WORST_FIRST.find((s) => m.problems.some((id) => byId.get(id).severity === s)) ?? null;
    if (m.parent !== null) {
      const p = modules.get(m.parent);
      p.total += m.total;
      p.problems.push(...m.problems);
    }
  }

  const edges = [];
  const outEdges = new Map();
  const inEdges = new Map();
  (graph.edges ?? []).forEach((e, index) => {
    if (!byId.has(e.source) || !byId.has(e.target)) return;
    const pos = edges.push({ source: e.source, target: e.target, kind: e.kind, index }) - 1;
    push(outEdges, e.source, pos);
    push(inEdges, e.target, pos);
  });

  const byUid = new Map([...modules.values()].map((m) => [m.uid, m]));
  return { graph, byId, modules, byUid, edges, outEdges, inEdges };
}

/** @param {import("./types.js").GraphNode|undefined} n */
export function isProblem(n) {
  return !!n && (n.kind === "param" || n.kind === "leaf") && PROBLEM_SEVERITIES.has(n.severity);
}

/** Module paths from the outermost ancestor down to `path` itself, root excluded. */
export function modulePathChain(path) {
  if (!path) return [];
  const parts = path.split(".");
  return parts.map((_, i) => parts.slice(0, i + 1).join("."));
}

function push(map, key, value) {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
