// The side panel that explains the clicked node or module. Reads only the state already in
// the browser (no kernel round trip), so an exported page stays fully clickable.
import { formatCount, formatNumber, formatShape } from "../format.js";
import { histRow } from "../state.js";
import { h } from "./dom.js";
import { histogram } from "./histogram.js";
import { safeColor } from "./legend.js";

const KIND_NAMES = { param: "parameter", leaf: "leaf tensor", op: "autograd op", loss: "loss", cut: "cut in the graph" };

/**
 * @typedef {object} InspectorContext
 * @property {import("../graph-index.js").GraphIndex} index
 * @property {Float32Array} hists
 * @property {(id: string) => void} reveal        show and select a node
 * @property {(path: string) => void} toggle      expand or collapse a module
 * @property {(path: string) => boolean} isCollapsed
 * @property {(node: import("../types.js").GraphNode) => Node|null} [extra]  a host view's own section
 */

/**
 * @param {HTMLElement} panel
 * @param {{type: "node"|"module", id: string}|null} target
 * @param {InspectorContext} ctx
 */
export function renderInspector(panel, target, ctx) {
  let body;
  if (target?.type === "node" && ctx.index.byId.has(target.id)) body = nodeView(ctx.index.byId.get(target.id), ctx);
  else if (target?.type === "module" && ctx.index.modules.has(target.id)) body = moduleView(ctx.index.modules.get(target.id), ctx);
  else body = hint();
  panel.replaceChildren(body);
  panel.scrollTop = 0;
}

function hint() {
  return h(
    "div",
    { class: "gv-hint" },
    h("p", {}, "Click a node to inspect it."),
    h("p", {}, "Click a box title to collapse its module; click a collapsed module to expand it."),
    h("p", {}, "Drag to pan, scroll to zoom."),
  );
}

function nodeView(n, ctx) {
  const palette = ctx.index.graph.palette ?? {};
  const verdict = n.verdict !== null && n.verdict !== undefined ? ctx.index.graph.verdicts?.[n.verdict] : null;
  const title = n.tensor?.name ?? n.label;
  return h(
    "div",
    { class: "gv-inspect" },
    h("h3", { class: "gv-name" }, title),
    h("div", { class: "gv-kind" }, KIND_NAMES[n.kind] ?? n.kind, n.module ? ` · in ${n.module}` : ""),
    verdict ? verdictView(verdict, n, ctx, palette) : sourceView(n.where, n.code),
    ctx.extra?.(n) ?? null,
    n.kind === "cut" && cutView(n, ctx),
    n.tensor && tensorView(n.tensor, ctx),
    n.op && opView(n.op),
  );
}

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
    v.grad_norm !== null && v.grad_norm !== undefined && row("Grad norm", formatNumber(v.grad_norm)),
  );
}

/** The cut marker a parameter hangs off (its dashed edge), if any. */
function cutOf(n, ctx) {
  for (const e of ctx.index.outEdges.get(n.id) ?? []) {
    const target = ctx.index.byId.get(ctx.index.edges[e].target);
    if (target?.kind === "cut") return target;
  }
  return null;
}

function cutView(n, ctx) {
  const cut = (ctx.index.inEdges.get(n.id) ?? [])
    .map((e) => ctx.index.byId.get(ctx.index.edges[e].source))
    .filter((src) => src.kind === "param" || src.kind === "leaf");
  if (!cut.length) return null;
  return h(
    "section",
    {},
    h("h4", {}, "Cuts the gradient path of"),
    h("ul", { class: "gv-links" }, cut.map((src) => h("li", {}, link(src.tensor?.name ?? src.label, () => ctx.reveal(src.id))))),
  );
}

function tensorView(t, ctx) {
  return h(
    "section",
    {},
    h("h4", {}, "Tensor"),
    table([
      ["shape", formatShape(t.shape)],
      ["dtype", t.dtype],
      ["device", t.device],
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

function summaryView(title, sum, ctx, missing = "not recorded") {
  if (!sum) return h("section", {}, h("h4", {}, title), h("p", { class: "gv-muted" }, missing));
  const count = (k) => (sum[k] === null || sum[k] === undefined ? "–" : `${formatCount(sum[k])} of ${formatCount(sum.numel)}`);
  return h(
    "section",
    {},
    h("h4", {}, title, sum.sampled ? h("span", { class: "gv-muted" }, " (sampled)") : null),
    table([
      ["min … max", `${formatNumber(sum.min)} … ${formatNumber(sum.max)}`],
      ["mean ± std", `${formatNumber(sum.mean)} ± ${formatNumber(sum.std)}`],
      ["norm", formatNumber(sum.norm)],
      ["zeros", count("zeros")],
      ["NaN", count("nan")],
      ["Inf", count("inf")],
    ]),
    histogram(histRow(ctx.hists, sum.hist), sum.min, sum.max),
  );
}

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

function sourceView(where, code) {
  if (!where && !code) return null;
  return h("section", {}, row("Source", where ? h("code", {}, where) : "–"), code && h("pre", { class: "gv-code" }, code));
}

function moduleView(m, ctx) {
  const collapsed = ctx.isCollapsed(m.path);
  const problems = m.problems.slice(0, 20).map((id) => ctx.index.byId.get(id));
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
    problems.length > 0 && h("h4", {}, `Problems (${m.problems.length})`),
    problems.length > 0 &&
      h("ul", { class: "gv-links" }, problems.map((n) => h("li", {}, link(n.tensor?.name ?? n.label, () => ctx.reveal(n.id))))),
  );
}

function row(label, value) {
  return h("div", { class: "gv-row" }, h("span", { class: "gv-label" }, label), h("span", { class: "gv-value" }, value));
}

function table(rows) {
  return h("table", { class: "gv-table" }, rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v))));
}

function link(text, onclick) {
  return h("button", { type: "button", class: "gv-link", onclick }, text);
}
