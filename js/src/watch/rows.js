// The heatmap's rows: parameters grouped by module, as a tree of collapsible bands. A band is a
// module that holds other modules (a transformer block, `blocks`, an `mlp`); its header row shows
// the worst of its parameters at each step (grid.js), so a closed band still shows a NaN or a dead layer.
// Modules without submodules (a Linear's weight and bias) are not bands: their parameters are
// rows, with a small gap between modules. Pure functions; the heatmap draws what they return.

/**
 * @typedef {object} ModuleNode
 * @property {string} path       "" for the model itself
 * @property {ModuleNode[]} children   submodules holding watched parameters, in model order
 * @property {number[]} own      columns of the parameters directly on this module
 * @property {number[]} columns  every column under it, in display order
 * @property {boolean} band      a collapsible band (holds submodules and at least two parameters)
 * @property {number} depth      bands above it
 *
 * @typedef {object} Line   one drawn row of the heatmap
 * @property {"band"|"param"} kind
 * @property {number} depth      indentation level
 * @property {number} source     row of the cell image (params first, in display order, then bands)
 * @property {number} [column]   param lines
 * @property {ModuleNode} [node] band lines
 * @property {string} module    the module it belongs to (a band: its own path)
 * @property {boolean} gap       a module boundary above it (drawn as a small gap)
 * @property {number} top        px
 */

/**
 * The module tree of the watched columns. A module with no parameter of its own and a single
 * submodule is skipped (its child takes its place), so wrappers add no empty levels.
 * The root is the model ("" unless the model only wraps one container).
 * @param {string[]} modules  module path of each column
 * @returns {{root: ModuleNode, bands: ModuleNode[], order: number[]}}
 *   order: display row of each parameter -> column; bands in display order
 */
export function moduleTree(modules) {
  const nodes = new Map();
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
  let root = compress(nodes.get(""));
  // A model that only wraps one container (`model.net.…`): that container is the top level.
  while (!root.own.length && root.children.length === 1 && root.children[0].children.length) root = { ...root.children[0], band: false };
  const order = [];
  const bands = [];
  (function visit(n, depth) {
    n.depth = depth;
    n.columns = [];
    const start = order.length;
    order.push(...n.own);
    const inner = depth + (n.band ? 1 : 0);
    for (const child of n.children) visit(child, n.path === "" ? 0 : inner);
    n.columns = order.slice(start);
  })(root, 0);
  (function collect(n) {
    if (n.band) bands.push(n);
    n.children.forEach(collect);
  })(root);
  return { root, bands, order };
}

const parentOf = (path) => (path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "");

function compress(n) {
  n.children = n.children.map(compress).map((child) => {
    let c = child;
    while (!c.own.length && c.children.length === 1) c = c.children[0];
    return c;
  });
  n.band = n.path !== "" && n.children.length > 0 && countOf(n) >= 2;
  return n;
}

const countOf = (n) => n.own.length + n.children.reduce((sum, c) => sum + countOf(c), 0);

/**
 * The bands to open first: whole levels of the tree, as long as the rows stay within `budget`.
 * @returns {Set<string>} expanded band paths
 */
export function initialExpanded(tree, budget) {
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
 * @param {{root: ModuleNode, order: number[], bands: ModuleNode[]}} tree
 * @param {Set<string>} expanded
 * @returns {Line[]}
 */
export function displayLines(tree, expanded) {
  const sourceOf = new Map(tree.order.map((column, i) => [column, i]));
  const bandSource = new Map(tree.bands.map((b, i) => [b, tree.order.length + i]));
  const lines = [];
  const push = (line, module) => {
    const prev = lines[lines.length - 1];
    line.gap = !!prev && prev.module !== module && !(prev.kind === "band" && expanded.has(prev.module)); // not under its own header
    lines.push({ ...line, module, top: 0 });
  };
  const visit = (n, depth) => {
    if (n.band) {
      push({ kind: "band", depth, source: bandSource.get(n), node: n }, n.path);
      if (!expanded.has(n.path)) return;
      depth += 1;
    }
    for (const column of n.own) push({ kind: "param", depth, source: sourceOf.get(column), column }, n.path);
    for (const child of n.children) visit(child, depth);
  };
  visit(tree.root, 0);
  return lines;
}

/** The band paths to expand so that `column` is drawn as its own row. */
export function bandsAbove(tree, column) {
  const path = [];
  const find = (n) => {
    if (!n.columns.includes(column)) return false;
    if (n.band) path.push(n.path);
    return n.own.includes(column) || n.children.some(find);
  };
  find(tree.root);
  return path;
}

/** Row geometry: each line `rowH` px, plus `gap` px above lines that start a module. */
export function placeLines(lines, rowH, gap) {
  let y = 0;
  for (const line of lines) {
    if (line.gap) y += gap;
    line.top = y;
    y += rowH;
  }
  return y;
}
