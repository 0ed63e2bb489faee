// The side panel that explains the clicked node or module. Reads only the state already in
// the browser (no kernel round trip), so an exported page stays fully clickable.
import { formatCount, formatNumber, formatShape } from "../format.js";
import { lookup } from "../lookup.js";
import { histRow } from "../state.js";
import { readNumber } from "../types.js";
import { h } from "./dom.js";
import { histogram } from "./histogram.js";
import { safeColor } from "./legend.js";

/** @typedef {import("../types.js").GraphNode} GraphNode */
/** @typedef {import("../types.js").Verdict} Verdict */
/** @typedef {import("../types.js").Summary} Summary */
/** @typedef {import("./dom.js").Child} Child */

/** @type {Record<GraphNode["kind"], string>} */
const KIND_NAMES = {
  param: "parameter",
  leaf: "leaf tensor",
  op: "autograd op",
  loss: "loss",
  cut: "cut in the graph",
  birth: "where a NaN/Inf was born",
};
/** @type {Record<import("../types.js").BirthInfo["kind"], string>} */
const VALUE_NAMES = { nan: "NaN", inf: "Inf" };

/**
 * @typedef {object} InspectorContext
 * @property {import("../graph-index.js").GraphIndex} index
 * @property {Float32Array} hists
 * @property {(id: string) => void} reveal        show and select a node
 * @property {(path: string) => void} toggle      expand or collapse a module
 * @property {(path: string) => boolean} isCollapsed
 * @property {(path: string) => void} [revealModule]  show and select a module
 * @property {(id: string, on: boolean) => void} [fold]     fold (on) or open a run of repeated blocks
 * @property {(id: string, on: boolean) => void} [group]    draw a parameter group as one box (on) or each member
 * @property {(id: string) => boolean} [isFolded]
 * @property {(id: string) => boolean} [isGrouped]
 * @property {((node: GraphNode) => Node|null)|undefined} [extra]  a host view's own section
 */

/**
 * What the inspector shows: a node, a module, a fold of repeated blocks or a parameter group.
 * @typedef {{type: "node"|"module"|"fold"|"group", id: string}} InspectTarget
 */

/**
 * @param {HTMLElement} panel
 * @param {InspectTarget|null} target
 * @param {InspectorContext} ctx
 */
export function renderInspector(panel, target, ctx) {
  const { index } = ctx;
  const node = target?.type === "node" ? index.byId.get(target.id) : undefined;
  const module = target?.type === "module" ? index.modules.get(target.id) : undefined;
  const fold = target?.type === "fold" ? index.foldById?.get(target.id) : undefined;
  const group = target?.type === "group" ? index.groupById?.get(target.id) : undefined;
  const body = node
    ? nodeView(node, ctx)
    : module
      ? moduleView(module, ctx)
      : fold
        ? foldView(fold, ctx)
        : group
          ? groupView(group, ctx)
          : hint();
  panel.replaceChildren(body);
  panel.scrollTop = 0;
}

function hint() {
  return h(
    "div",
    { class: "gv-hint" },
    h("p", {}, "Click a node to inspect it."),
    h("p", {}, "Click a box title to collapse its module; click a collapsed module to expand it."),
    h("p", {}, "Drag to pan; Ctrl (⌘) + scroll zooms, or click the graph and scroll."),
  );
}

/**
 * @param {GraphNode} n
 * @param {InspectorContext} ctx
 */
function nodeView(n, ctx) {
  const palette = ctx.index.graph.palette ?? {};
  const verdict = n.verdict !== null && n.verdict !== undefined ? ctx.index.graph.verdicts?.[n.verdict] : null;
  const title = n.tensor?.name ?? n.label;
  return h(
    "div",
    { class: "gv-inspect" },
    h("h3", { class: "gv-name" }, title),
    h("div", { class: "gv-kind" }, KIND_NAMES[n.kind] ?? n.kind, n.module ? ` · in ${n.module}` : "", n.moduleInferred ? " (placed by its neighbours)" : ""),
    n.birth && birthView(n, n.birth, ctx, palette),
    verdict ? verdictView(verdict, n, ctx, palette) : !n.birth && sourceView(n.where, n.code),
    groupButton(n, ctx),
    ctx.extra?.(n) ?? null,
    (n.kind === "cut" || n.kind === "birth") && cutView(n, ctx),
    n.tensor && tensorView(n.tensor, ctx),
    n.op && opView(n.op),
  );
}

/**
 * @param {Verdict} v
 * @param {GraphNode} n
 * @param {InspectorContext} ctx
 * @param {Record<string, string>} palette
 */
function verdictView(v, n, ctx, palette) {
  const where = v.where ?? n.where;
  const code = n.code ?? cutOf(n, ctx)?.code ?? null;
  return h(
    "section",
    { class: "gv-verdict", style: `--gv-accent: ${safeColor(palette[v.severity])}` },
    row("Cause", h("span", { class: "gv-badge" }, v.cause)),
    h("p", { class: "gv-message" }, v.message),
    row("Where", where ? h("code", {}, where) : "–"),
    code && h("pre", { class: "gv-code" }, code),
    row("Fix", v.fix),
    readNumber(v.grad_norm) !== null && row("Grad norm", formatNumber(v.grad_norm)),
  );
}

/**
 * A NaN/Inf birth marker: what was born where, how, and the op it marks.
 * @param {GraphNode} n
 * @param {import("../types.js").BirthInfo} b  its `birth`
 * @param {InspectorContext} ctx
 * @param {Record<string, string>} palette
 */
function birthView(n, b, ctx, palette) {
  const marked = (ctx.index.outEdges.get(n.id) ?? [])
    .map((e) => ctx.index.byId.get(ctx.index.edges[e].target))
    .find(Boolean);
  const value = VALUE_NAMES[b.kind] ?? b.kind;
  return h(
    "section",
    { class: "gv-verdict", style: `--gv-accent: ${safeColor(palette.nonfinite)}` },
    row("Value", h("span", { class: "gv-badge" }, value)),
    h("p", { class: "gv-message" }, `${value} first appeared in the ${b.phase} of ${b.op}${b.detail ? `: ${b.detail}` : ""}.`),
    row("Phase", b.phase),
    row("Op", h("code", {}, b.op)),
    row("Where", n.where ? h("code", {}, n.where) : "–"),
    n.code && h("pre", { class: "gv-code" }, n.code),
    b.masked_by && row("Hidden by", h("span", {}, h("code", {}, b.masked_by), b.masked_where ? h("span", {}, " at ", h("code", {}, b.masked_where)) : null)),
    marked && row("Marks", link(marked.label, () => ctx.reveal(marked.id))),
  );
}

/**
 * "Draw the 24 parameters as one box again" on a parameter whose group is drawn open.
 * @param {GraphNode} n
 * @param {InspectorContext} ctx
 */
function groupButton(n, ctx) {
  const group = ctx.index.groupOf?.get(n.id);
  const setGroup = ctx.group;
  if (!group || !setGroup || ctx.isGrouped?.(group.id)) return null;
  return h("button", { type: "button", class: "gv-button gv-block", onclick: () => setGroup(group.id, true) }, `Draw its ${group.members.length} parameters as one box`);
}

/**
 * The cut marker a parameter hangs off (its dashed edge), if any.
 * @param {GraphNode} n
 * @param {InspectorContext} ctx
 */
function cutOf(n, ctx) {
  for (const e of ctx.index.outEdges.get(n.id) ?? []) {
    const target = ctx.index.byId.get(ctx.index.edges[e].target);
    if (target?.kind === "cut") return target;
  }
  return null;
}

/**
 * @param {GraphNode} n
 * @param {InspectorContext} ctx
 */
function cutView(n, ctx) {
  const cut = (ctx.index.inEdges.get(n.id) ?? [])
    .map((e) => lookup(ctx.index.byId, ctx.index.edges[e].source))
    .filter((src) => src.kind === "param" || src.kind === "leaf");
  if (!cut.length) return null;
  return h(
    "section",
    {},
    h("h4", {}, n.kind === "birth" ? "Parameters behind it" : "Cuts the gradient path of"),
    h("ul", { class: "gv-links" }, cut.map((src) => h("li", {}, link(src.tensor?.name ?? src.label, () => ctx.reveal(src.id))))),
  );
}

/**
 * @param {import("../types.js").TensorInfo} t
 * @param {InspectorContext} ctx
 */
function tensorView(t, ctx) {
  return h(
    "section",
    {},
    h("h4", {}, "Tensor"),
    table([
      ["shape", formatShape(t.shape)],
      ["dtype", t.dtype ?? "?"],
      ["device", t.device ?? "?"],
      ["requires_grad", String(t.requires_grad)],
      ["is_leaf", String(t.is_leaf)],
      ["grad_fn", t.grad_fn ?? "None"],
      ["module", t.module || "(top level)"],
    ]),
    summaryView("Value", t.value, ctx),
    // undefined: this view did not record the gradient (the watch view shows it per step itself)
    t.grad !== undefined && summaryView("Gradient", t.grad, ctx, "None: no gradient was stored"),
  );
}

/**
 * @param {string} title
 * @param {Summary|null} sum
 * @param {InspectorContext} ctx
 */
function summaryView(title, sum, ctx, missing = "not recorded") {
  if (!sum) return h("section", {}, h("h4", {}, title), h("p", { class: "gv-muted" }, missing));
  /** @param {"zeros"|"nan"|"inf"} k */
  const count = (k) => (sum[k] === null || sum[k] === undefined ? "–" : `${formatCount(sum[k])} of ${formatCount(sum.numel)}`);
  // min, max, mean and std are of the finite values: with none (every value NaN or Inf) say so
  const noneFinite = readNumber(sum.min) === null && (sum.nan ?? 0) + (sum.inf ?? 0) > 0;
  return h(
    "section",
    {},
    h("h4", {}, title, sum.sampled ? h("span", { class: "gv-muted" }, " (sampled)") : null),
    table([
      ["min … max", noneFinite ? "no finite value" : `${formatNumber(sum.min)} … ${formatNumber(sum.max)}`],
      ["mean ± std", noneFinite ? "no finite value" : `${formatNumber(sum.mean)} ± ${formatNumber(sum.std)}`],
      ["norm", formatNumber(sum.norm)],
      ["zeros", count("zeros")],
      ["NaN", count("nan")],
      ["Inf", count("inf")],
    ]),
    histogram(histRow(ctx.hists, sum.hist, ctx.index.graph.hist_bins), readNumber(sum.min), readNumber(sum.max)),
  );
}

/** @param {import("../types.js").OpInfo} op */
function opView(op) {
  return h(
    "section",
    {},
    h("h4", {}, "Operation"),
    table([
      ["forward", op.forward ?? "–"],
      ["inputs", (op.inputs ?? []).map(formatShape).join(", ") || "–"],
      ["outputs", (op.outputs ?? []).map(formatShape).join(", ") || "–"],
      ["grad norm in", formatNumber(op.grad_norm_in)],
    ]),
  );
}

/**
 * @param {string|null} where
 * @param {string|null} code
 */
function sourceView(where, code) {
  if (!where && !code) return null;
  return h("section", {}, row("Source", where ? h("code", {}, where) : "–"), code && h("pre", { class: "gv-code" }, code));
}

/**
 * @param {import("../graph-index.js").ModuleInfo} m
 * @param {InspectorContext} ctx
 */
function moduleView(m, ctx) {
  const collapsed = ctx.isCollapsed(m.path);
  const problems = m.problems.slice(0, 20).map((id) => lookup(ctx.index.byId, id));
  const fold = ctx.index.foldOf?.get(m.path);
  const setFold = ctx.fold;
  return h(
    "div",
    { class: "gv-inspect" },
    h("h3", { class: "gv-name" }, m.path),
    h("div", { class: "gv-kind" }, "module", m.type ? ` · ${m.type}` : ""),
    table([
      ["nodes", formatCount(m.total)],
      ["submodules", formatCount(m.children.length)],
    ]),
    h("button", { type: "button", class: "gv-button", onclick: () => ctx.toggle(m.path) }, collapsed ? "Expand" : "Collapse"),
    fold && setFold && !ctx.isFolded?.(fold.id) &&
      h("button", { type: "button", class: "gv-button gv-block", onclick: () => setFold(fold.id, true) }, `Fold ${fold.label.split(" · ")[0]} into one box`),
    problems.length > 0 && h("h4", {}, `Problems (${m.problems.length})`),
    problems.length > 0 &&
      h("ul", { class: "gv-links" }, problems.map((n) => h("li", {}, link(n.tensor?.name ?? n.label, () => ctx.reveal(n.id))))),
  );
}

/**
 * @param {import("../graph-index.js").Fold} fold
 * @param {InspectorContext} ctx
 */
function foldView(fold, ctx) {
  const folded = ctx.isFolded?.(fold.id) ?? true;
  const type = ctx.index.modules.get(fold.members[0])?.type;
  const { fold: setFold, revealModule } = ctx;
  return h(
    "div",
    { class: "gv-inspect" },
    h("h3", { class: "gv-name" }, fold.label),
    h("div", { class: "gv-kind" }, `${fold.members.length} blocks with the same structure${type ? ` (${type})` : ""}`),
    h("p", { class: "gv-muted" }, "Repeated blocks with nothing to look at inside are drawn as one box."),
    table([["nodes", formatCount(fold.total)]]),
    setFold && h("button", { type: "button", class: "gv-button", onclick: () => setFold(fold.id, !folded) }, folded ? "Draw each block" : "Fold into one box"),
    h("h4", {}, "Blocks"),
    h("ul", { class: "gv-links" }, fold.members.map((path) => h("li", {}, revealModule ? link(path, () => revealModule(path)) : path))),
  );
}

/**
 * @param {import("../graph-index.js").Group} group
 * @param {InspectorContext} ctx
 */
function groupView(group, ctx) {
  const palette = ctx.index.graph.palette ?? {};
  const grouped = ctx.isGrouped?.(group.id) ?? true;
  const setGroup = ctx.group;
  const first = ctx.index.byId.get(group.members[0]);
  const verdict = first?.verdict != null ? ctx.index.graph.verdicts?.[first.verdict] : null;
  const marker = ctx.index.byId.get(group.marker);
  return h(
    "div",
    { class: "gv-inspect" },
    h("h3", { class: "gv-name" }, group.label),
    h("div", { class: "gv-kind" }, `${group.members.length} parameters with one cause, behind one marker`),
    verdict &&
      h(
        "section",
        { class: "gv-verdict", style: `--gv-accent: ${safeColor(palette[verdict.severity])}` },
        row("Cause", h("span", { class: "gv-badge" }, verdict.cause)),
        h("p", { class: "gv-message" }, verdict.message),
        row("Where", verdict.where ? h("code", {}, verdict.where) : "–"),
        marker?.code && h("pre", { class: "gv-code" }, marker.code),
        row("Fix", verdict.fix),
      ),
    setGroup && h("button", { type: "button", class: "gv-button", onclick: () => setGroup(group.id, !grouped) }, grouped ? "Draw each parameter" : "Draw as one box"),
    marker && h("h4", {}, "Marker"),
    marker && h("p", {}, link(marker.label, () => ctx.reveal(marker.id))),
    h("h4", {}, "Parameters"),
    h("ul", { class: "gv-links" }, group.members.map((id) => lookup(ctx.index.byId, id)).map((n) => h("li", {}, link(n.tensor?.name ?? n.label, () => ctx.reveal(n.id))))),
  );
}

/**
 * @param {string} label
 * @param {Child} value
 */
function row(label, value) {
  return h("div", { class: "gv-row" }, h("span", { class: "gv-label" }, label), h("span", { class: "gv-value" }, value));
}

/** @param {[string, Child][]} rows */
function table(rows) {
  return h("table", { class: "gv-table" }, rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v))));
}

/**
 * @param {string} text
 * @param {() => void} onclick
 */
function link(text, onclick) {
  return h("button", { type: "button", class: "gv-link", onclick }, text);
}
