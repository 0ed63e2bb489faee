// The side panel that explains the clicked node or module. Reads only the state already in
// the browser (no kernel round trip), so an exported page stays fully clickable.
import { formatCount, formatNumber, formatShape } from "../format.js";
import { lookup } from "../lookup.js";
import { histRow } from "../state.js";
import { readNumber } from "../types.js";
import { breakable, h, richText } from "./dom.js";
import { histogram } from "./histogram.js";
import { safeColor } from "./legend.js";
import { whatifNote, whatifSection } from "./whatif.js";

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
/** Severities from worst to healthy: the order of a module's parameter list. */
/** @type {import("../types.js").Severity[]} */
const SEVERITY_ORDER = ["nonfinite", "red", "zero", "frozen", "ok"];
/** A module's panel lists this many of its parameters (problems first), then says how many more. */
const MODULE_PARAMS_SHOWN = 40;

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
 * @property {import("./whatif.js").WhatIfControl} [whatif]  the cut toggled off, and the toggle
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
    h("h3", { class: "gv-name" }, breakable(title)),
    h("div", { class: "gv-kind" }, KIND_NAMES[n.kind] ?? n.kind, n.module ? [" · in ", breakable(n.module)] : "", n.moduleInferred ? " (placed by its neighbours)" : ""),
    n.birth && birthView(n, n.birth, ctx, palette),
    verdict
      ? verdictView(verdict, n, ctx, palette)
      : n.kind === "cut"
        ? (sharedVerdictView(cutMembers(n, ctx), ctx, n.code) ?? sourceView(n.where, n.code))
        : !n.birth && sourceView(n.where, n.code),
    whatifSection(n, ctx.index, ctx.whatif, ctx.reveal),
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
    h("p", { class: "gv-message" }, richText(v.message)),
    row("Where", where ? h("code", {}, breakable(where)) : "–"),
    code && h("pre", { class: "gv-code" }, breakable(code)),
    row("Fix", richText(v.fix)),
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
    h("p", { class: "gv-message" }, richText(`${value} first appeared in the ${b.phase} of ${b.op}${b.detail ? `: ${b.detail}` : ""}.`)),
    row("Phase", b.phase),
    row("Op", h("code", {}, breakable(b.op))),
    row("Where", n.where ? h("code", {}, breakable(n.where)) : "–"),
    n.code && h("pre", { class: "gv-code" }, breakable(n.code)),
    b.masked_by && row("Hidden by", h("span", {}, h("code", {}, breakable(b.masked_by)), b.masked_where ? h("span", {}, " at ", h("code", {}, breakable(b.masked_where))) : null)),
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
  const cut = cutMembers(n, ctx);
  if (!cut.length) return null;
  return h(
    "section",
    {},
    h("h4", {}, n.kind === "birth" ? "Parameters behind it" : "Cuts the gradient path of"),
    h("ul", { class: "gv-links" }, cut.map((src) => h("li", {}, link(src.tensor?.name ?? src.label, () => ctx.reveal(src.id))))),
  );
}

/**
 * The parameters and inputs a marker explains (its dashed edges).
 * @param {GraphNode} n
 * @param {InspectorContext} ctx
 */
function cutMembers(n, ctx) {
  return (ctx.index.inEdges.get(n.id) ?? [])
    .map((e) => lookup(ctx.index.byId, ctx.index.edges[e].source))
    .filter((src) => src.kind === "param" || src.kind === "leaf");
}

/**
 * The verdict that several parameters share (a cut's, a group's), in words true of each of them:
 * one cause, the part of the message they all have in common, the line and the fix. Null when they
 * have no verdict or not one cause.
 * @param {GraphNode[]} members
 * @param {InspectorContext} ctx
 * @param {string|null} code  the source line to show under "Where" (a marker's)
 */
function sharedVerdictView(members, ctx, code) {
  const verdicts = members.map((n) => verdictOf(n, ctx)).filter((v) => v !== null);
  if (!verdicts.length || verdicts.length !== members.length) return null;
  const [first] = verdicts;
  if (verdicts.some((v) => v.cause !== first.cause)) return null;
  const palette = ctx.index.graph.palette ?? {};
  const where = verdicts.every((v) => v.where === first.where) ? first.where : null;
  const fixes = new Set(verdicts.map((v) => v.fix));
  const message = sharedMessage(verdicts);
  return h(
    "section",
    { class: "gv-verdict", style: `--gv-accent: ${safeColor(palette[first.severity])}` },
    row("Cause", h("span", { class: "gv-badge" }, first.cause)),
    h("p", { class: "gv-message" }, message ? richText(message) : h("span", { class: "gv-muted" }, "Each has its own explanation: click a parameter below.")),
    row("Where", where ? h("code", {}, breakable(where)) : h("span", { class: "gv-muted" }, "several lines")),
    where && code && h("pre", { class: "gv-code" }, breakable(code)),
    fixes.size === 1 && row("Fix", richText(first.fix)),
  );
}

/**
 * What the messages of several verdicts say of every one of them: each message names its own
 * parameter first ("enc.weight gets no gradient: …"), so with more than one that name becomes "Each
 * of these N parameters"; where the messages then differ (the op of each parameter), the common part
 * up to the last clause they share. Null when even the first clause differs.
 * @param {Verdict[]} verdicts
 * @returns {string|null}
 */
export function sharedMessage(verdicts) {
  if (verdicts.length === 1) return verdicts[0].message;
  const each = `Each of these ${verdicts.length} parameters`;
  const texts = verdicts.map((v) => (v.message.startsWith(`${v.name} `) ? each + v.message.slice(v.name.length) : null));
  if (texts.some((t) => t === null)) return null;
  const all = /** @type {string[]} */ (texts);
  if (all.every((t) => t === all[0])) return all[0];
  let common = all[0];
  for (const t of all) {
    let i = 0;
    while (i < common.length && i < t.length && common[i] === t[i]) i += 1;
    common = common.slice(0, i);
  }
  // end at a clause boundary outside `code` (an even number of backticks before it)
  for (let end = common.length; end > each.length; end -= 1) {
    const boundary = common.startsWith("; ", end) || common.startsWith(". ", end) || common.startsWith(", ", end);
    if (boundary && (common.slice(0, end).split("`").length - 1) % 2 === 0 && common.slice(each.length, end).includes(":")) {
      return `${common.slice(0, end)}.`;
    }
  }
  return null;
}

/**
 * @param {GraphNode} n
 * @param {InspectorContext} ctx
 * @returns {Verdict|null}
 */
function verdictOf(n, ctx) {
  return n.verdict !== null && n.verdict !== undefined ? (ctx.index.graph.verdicts?.[n.verdict] ?? null) : null;
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
  return h("section", {}, row("Source", where ? h("code", {}, breakable(where)) : "–"), code && h("pre", { class: "gv-code" }, breakable(code)));
}

/**
 * @param {import("../graph-index.js").ModuleInfo} m
 * @param {InspectorContext} ctx
 */
function moduleView(m, ctx) {
  const collapsed = ctx.isCollapsed(m.path);
  const fold = ctx.index.foldOf?.get(m.path);
  const setFold = ctx.fold;
  return h(
    "div",
    { class: "gv-inspect" },
    h("h3", { class: "gv-name" }, breakable(m.path)),
    h("div", { class: "gv-kind" }, "module", m.type ? ` · ${m.type}` : ""),
    table([
      ["nodes", formatCount(m.total)],
      ["submodules", formatCount(m.children.length)],
    ]),
    h("button", { type: "button", class: "gv-button", onclick: () => ctx.toggle(m.path) }, collapsed ? "Expand" : "Collapse"),
    fold && setFold && !ctx.isFolded?.(fold.id) &&
      h("button", { type: "button", class: "gv-button gv-block", onclick: () => setFold(fold.id, true) }, `Fold ${fold.label.split(" · ")[0]} into one box`),
    parameterVerdicts(m, ctx),
  );
}

/**
 * The verdict of each parameter in a module and its submodules, the worst first: a count per cause,
 * then each name with its cause (a link to the parameter) in the model's order, then how many more.
 * @param {import("../graph-index.js").ModuleInfo} m
 * @param {InspectorContext} ctx
 */
function parameterVerdicts(m, ctx) {
  const params = paramsIn(m, ctx.index);
  if (!params.length) return null;
  const palette = ctx.index.graph.palette ?? {};
  const rank = (/** @type {GraphNode} */ n) => {
    const i = SEVERITY_ORDER.indexOf(verdictOf(n, ctx)?.severity ?? "ok");
    return i < 0 ? SEVERITY_ORDER.length : i;
  };
  params.sort((a, b) => rank(a) - rank(b) || (a.verdict ?? Infinity) - (b.verdict ?? Infinity)); // then the model's order
  /** @type {Map<string, number>} */
  const causes = new Map();
  for (const n of params) {
    const cause = verdictOf(n, ctx)?.cause;
    if (cause) causes.set(cause, (causes.get(cause) ?? 0) + 1);
  }
  const shown = params.slice(0, MODULE_PARAMS_SHOWN);
  const more = params.length - shown.length;
  return h(
    "section",
    {},
    h("h4", {}, `Parameters (${formatCount(params.length)})`),
    causes.size > 0 && h("p", { class: "gv-muted gv-counts" }, [...causes].map(([cause, count]) => `${formatCount(count)} ${cause}`).join(" · ")),
    h(
      "ul",
      { class: "gv-params" },
      shown.map((n) => {
        const v = verdictOf(n, ctx);
        return h(
          "li",
          {},
          link(n.tensor?.name ?? n.label, () => ctx.reveal(n.id)),
          v && h("span", { class: "gv-badge gv-badge-small", style: `--gv-accent: ${safeColor(palette[v.severity])}` }, v.cause),
        );
      }),
    ),
    more > 0 && h("p", { class: "gv-muted" }, `+${formatCount(more)} more`),
  );
}

/**
 * The parameter nodes of a module and its submodules.
 * @param {import("../graph-index.js").ModuleInfo} m
 * @param {import("../graph-index.js").GraphIndex} index
 * @returns {GraphNode[]}
 */
function paramsIn(m, index) {
  /** @type {GraphNode[]} */
  const out = [];
  const stack = [m];
  for (let mod = stack.pop(); mod; mod = stack.pop()) {
    for (const id of mod.nodes) {
      const n = index.byId.get(id);
      if (n?.kind === "param") out.push(n);
    }
    for (const child of mod.children) {
      const c = index.modules.get(child);
      if (c) stack.push(c);
    }
  }
  return out;
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
    h("h3", { class: "gv-name" }, breakable(fold.label)),
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
  const grouped = ctx.isGrouped?.(group.id) ?? true;
  const setGroup = ctx.group;
  const members = group.members.map((id) => lookup(ctx.index.byId, id));
  const marker = ctx.index.byId.get(group.marker);
  return h(
    "div",
    { class: "gv-inspect" },
    h("h3", { class: "gv-name" }, breakable(group.label)),
    h("div", { class: "gv-kind" }, `${members.length} parameters with one cause, behind one marker`),
    sharedVerdictView(members, ctx, marker?.code ?? null),
    whatifNote(group.members, ctx.index, ctx.whatif),
    setGroup && h("button", { type: "button", class: "gv-button", onclick: () => setGroup(group.id, !grouped) }, grouped ? "Draw each parameter" : "Draw as one box"),
    marker && h("h4", {}, "Marker"),
    marker && h("p", {}, link(marker.label, () => ctx.reveal(marker.id))),
    h("h4", {}, `Parameters (${members.length})`),
    h("ul", { class: "gv-links" }, members.map((n) => h("li", {}, link(n.tensor?.name ?? n.label, () => ctx.reveal(n.id))))),
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
  return h("table", { class: "gv-table" }, rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, typeof v === "string" ? breakable(v) : v))));
}

/**
 * @param {string} text
 * @param {() => void} onclick
 */
function link(text, onclick) {
  return h("button", { type: "button", class: "gv-link", onclick }, breakable(text));
}
