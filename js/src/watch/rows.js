// The heatmap's rows: parameters grouped by module, as a tree of collapsible bands. A band is a
// module that holds other modules (a transformer block, `blocks`, an `mlp`); its header row shows
// the worst of its parameters at each step (grid.js), so a closed band still shows a NaN or a dead layer.
// Modules without submodules (a Linear's weight and bias) are not bands: their parameters are
// rows, with a small gap between modules. Pure functions; the heatmap draws what they return.
import { lookup } from "../lookup.js";

/**
 * @typedef {object} ModuleNode
 * @property {string} path       "" for the model itself
 * @property {ModuleNode[]} children   submodules holding watched parameters, in model order
 * @property {number[]} own      columns of the parameters directly on this module
 * @property {number[]} columns  every column under it, in display order
 * @property {boolean} band      a collapsible band (holds submodules and at least two parameters)
 * @property {number} depth      bands above it
 *
 * @typedef {object} ModuleTree
 * @property {ModuleNode} root
 * @property {ModuleNode[]} bands   in display order
 * @property {number[]} order       display row of each parameter -> column
 *
 * @typedef {object} LineBase   one drawn row of the heatmap
 * @property {number} depth      indentation level
 * @property {number} source     row of the cell image (params first, in display order, then bands)
 * @property {string} module    the module it belongs to (a band: its own path)
 * @property {boolean} gap       a module boundary above it (drawn as a small gap)
 * @property {number} top        px
 *
 * @typedef {LineBase & {kind: "band", node: ModuleNode}} BandLine     a module band's header row
 * @typedef {LineBase & {kind: "param", column: number}} ParamLine     a parameter's row
 * @typedef {BandLine|ParamLine} Line
 */

/**
 * The module tree of the watched columns. A module with no parameter of its own and a single
 * submodule is skipped (its child takes its place), so wrappers add no empty levels.
 * The root is the model ("" unless the model only wraps one container).
 * @param {string[]} modules  module path of each column
 * @returns {ModuleTree}
 */
export function moduleTree(modules) {
  /** @type {Map<string, ModuleNode>} */
  const nodes = new Map();
  /**
   * @param {string} path
   * @returns {ModuleNode}
   */
  const node = (path) => {
    let n = nodes.get(path);
    if (n) return n;
    n = { path, children: [], own: [], columns: [], band: false, depth: 0 };
    nodes.set(path, n);
    if (path !== "") node(parentOf(path)).children.push(n);
    return n;
  };
  node("");
  modules.forEach((m, column) => node(m).own.push(column));
  let root = compress(lookup(nodes, ""));
  // A model that only wraps one container (`model.net.…`): that container is the top level.
  while (!root.own.length && root.children.length === 1 && root.children[0].children.length) root = { ...root.children[0], band: false };
  /** @type {number[]} */
  const order = [];
  /** @type {ModuleNode[]} */
  const bands = [];
  (/** @param {ModuleNode} n @param {number} depth */ function visit(n, depth) {
    n.depth = depth;
    n.columns = [];
    const start = order.length;
    order.push(...n.own);
    const inner = depth + (n.band ? 1 : 0);
    for (const child of n.children) visit(child, n.path === "" ? 0 : inner);
    n.columns = order.slice(start);
  })(root, 0);
  (/** @param {ModuleNode} n */ function collect(n) {
    if (n.band) bands.push(n);
    n.children.forEach(collect);
  })(root);
  return { root, bands, order };
}

/** @param {string} path */
const parentOf = (path) => (path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "");

/**
 * @param {ModuleNode} n
 * @returns {ModuleNode}
 */
function compress(n) {
  n.children = n.children.map(compress).map((child) => {
    let c = child;
    while (!c.own.length && c.children.length === 1) c = c.children[0];
    return c;
  });
  n.band = n.path !== "" && n.children.length > 0 && countOf(n) >= 2;
  return n;
}

/**
 * @param {ModuleNode} n
 * @returns {number}
 */
const countOf = (n) => n.own.length + n.children.reduce((sum, c) => sum + countOf(c), 0);

/**
 * The bands to open first: whole levels of the tree, as long as the rows stay within `budget`.
 * @param {ModuleTree} tree
 * @param {number} budget
 * @returns {Set<string>} expanded band paths
 */
export function initialExpanded(tree, budget) {
  /** @type {Set<string>} */
  const expanded = new Set();
  let level = tree.bands.filter((b) => b.depth === 0);
  while (level.length) {
    const next = new Set([...expanded, ...level.map((b) => b.path)]);
    if (displayLines(tree, next).length > budget) break;
    level.forEach((b) => expanded.add(b.path));
    level = tree.bands.filter((b) => b.depth === level[0].depth + 1);
  }
  return expanded;
}

/**
 * The rows drawn for the `expanded` bands, top to bottom (without geometry).
 * @param {ModuleTree} tree
 * @param {Set<string>} expanded
 * @returns {Line[]}
 */
export function displayLines(tree, expanded) {
  const sourceOf = new Map(tree.order.map((column, i) => [column, i]));
  const bandSource = new Map(tree.bands.map((b, i) => [b, tree.order.length + i]));
  /** @type {Line[]} */
  const lines = [];
  /**
   * @param {{kind: "band", depth: number, source: number, node: ModuleNode}|{kind: "param", depth: number, source: number, column: number}} line
   * @param {string} module
   */
  const push = (line, module) => {
    const prev = lines[lines.length - 1];
    const gap = !!prev && prev.module !== module && !(prev.kind === "band" && expanded.has(prev.module)); // not under its own header
    lines.push({ ...line, module, gap, top: 0 });
  };
  /**
   * @param {ModuleNode} n
   * @param {number} depth
   */
  const visit = (n, depth) => {
    if (n.band) {
      push({ kind: "band", depth, source: lookup(bandSource, n), node: n }, n.path);
      if (!expanded.has(n.path)) return;
      depth += 1;
    }
    for (const column of n.own) push({ kind: "param", depth, source: lookup(sourceOf, column), column }, n.path);
    for (const child of n.children) visit(child, depth);
  };
  visit(tree.root, 0);
  return lines;
}

/**
 * The band paths to expand so that `column` is drawn as its own row.
 * @param {ModuleTree} tree
 * @param {number} column
 * @returns {string[]}
 */
export function bandsAbove(tree, column) {
  /** @type {string[]} */
  const path = [];
  /**
   * @param {ModuleNode} n
   * @returns {boolean}
   */
  const find = (n) => {
    if (!n.columns.includes(column)) return false;
    if (n.band) path.push(n.path);
    return n.own.includes(column) || n.children.some(find);
  };
  find(tree.root);
  return path;
}

/**
 * Row geometry: each line `rowH` px, plus `gap` px above lines that start a module.
 * @param {Line[]} lines
 * @param {number} rowH
 * @param {number} gap
 * @returns {number} the total height
 */
export function placeLines(lines, rowH, gap) {
  let y = 0;
  for (const line of lines) {
    if (line.gap) y += gap;
    line.top = y;
    y += rowH;
  }
  return y;
}
