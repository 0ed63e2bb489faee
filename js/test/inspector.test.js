// @vitest-environment happy-dom
import { describe, expect, it, vi } from "vitest";
import { indexGraph } from "../src/graph-index.js";
import { toFloat32 } from "../src/state.js";
import { renderInspector, sharedMessage } from "../src/ui/inspector.js";
import { smallModel } from "./helpers.js";

function inspect(target, overrides = {}) {
  const { graph, hists } = smallModel();
  const panel = document.createElement("aside");
  const ctx = { index: indexGraph(graph), hists: toFloat32(hists), reveal: vi.fn(), toggle: vi.fn(), isCollapsed: () => false, ...overrides };
  renderInspector(panel, target, ctx);
  return { panel, ctx, text: panel.textContent, graph };
}

describe("inspector", () => {
  it("explains a red parameter: cause, message, where, the line, fix", () => {
    const { text, panel } = inspect({ type: "node", id: "p0" });
    expect(panel.querySelector(".gv-name").textContent).toBe("enc.weight");
    expect(text).toContain("Causedetach");
    expect(text).toContain("enc.weight gets no gradient");
    expect(text).toContain("Wheremodel.py:13");
    expect(panel.querySelector(".gv-code").textContent).toBe("h = self.enc(x).detach()");
    expect(text).toContain("FixIf it should learn: remove the .detach()");
  });

  it("shows tensor facts, value stats with a histogram, and a missing gradient", () => {
    const { text, panel } = inspect({ type: "node", id: "p0" });
    expect(text).toContain("shape(4, 3)");
    expect(text).toContain("requires_gradtrue");
    expect(text).toContain("grad_fnNone");
    expect(text).toMatch(/min … max-?[\d.]+ … [\d.]+/);
    expect(panel.querySelectorAll(".gv-hist rect").length).toBeGreaterThan(0);
    expect(text).toContain("None: no gradient was stored");
  });

  it("shows an op's source line, shapes and incoming gradient norm", () => {
    const { text } = inspect({ type: "node", id: "g4" });
    expect(text).toContain("autograd op · in head");
    expect(text).toContain("Sourcemodel.py:14");
    expect(text).toContain("inputs(8, 4), (2, 4), (2)");
    expect(text).toMatch(/grad norm in[\d.]+/);
  });

  it("lists what a cut cuts, as links that reveal the parameter", () => {
    const { panel, ctx } = inspect({ type: "node", id: "c0" });
    const links = [...panel.querySelectorAll(".gv-link")];
    expect(links.map((a) => a.textContent)).toEqual(["enc.weight", "enc.bias"]);
    links[1].click();
    expect(ctx.reveal).toHaveBeenCalledWith("p1");
  });

  it("shows a module with the verdict of each parameter, problems first, and an expand button", () => {
    const { panel, ctx, text, graph } = inspect({ type: "module", id: "enc" }, { isCollapsed: () => true });
    const expected = graph.nodes
      .filter((n) => n.kind === "param" && (n.module === "enc" || n.module.startsWith("enc.")))
      .map((n) => [n.tensor.name, graph.verdicts[n.verdict].cause]);
    expect(expected.length).toBeGreaterThan(0);
    const rows = [...panel.querySelectorAll(".gv-params li")].map((li) => [li.querySelector(".gv-link").textContent, li.querySelector(".gv-badge").textContent]);
    expect(new Map(rows)).toEqual(new Map(expected));
    const healthy = rows.map(([, cause]) => cause === "ok");
    expect(healthy).toEqual([...healthy].sort()); // false (a problem) before true
    expect(text).toContain(`Parameters (${expected.length})`);
    const button = panel.querySelector("button.gv-button");
    expect(button.textContent).toBe("Expand");
    button.click();
    expect(ctx.toggle).toHaveBeenCalledWith("enc");
  });

  it("renders hostile names as text", () => {
    const { panel } = inspect({ type: "node", id: "g8" });
    expect(panel.querySelector(".gv-name").textContent).toBe("<img src=x onerror=alert(1)>.weight");
    expect(panel.querySelector("img")).toBeNull();
  });

  it("shows a hint when nothing is selected", () => {
    expect(inspect(null).text).toContain("Click a node to inspect it.");
  });
});

describe("inspector: births, groups, folds", async () => {
  const { birthModel, checkpointGraph, syntheticGraph } = await import("./helpers.js");

  it("explains a NaN birth: value, phase, op, how, the full path and the line, and links to the op", () => {
    const { graph, hists } = birthModel();
    const panel = document.createElement("aside");
    const ctx = { index: indexGraph(graph), hists: toFloat32(hists), reveal: vi.fn(), toggle: vi.fn(), isCollapsed: () => false };
    renderInspector(panel, { type: "node", id: "b0" }, ctx);
    const text = panel.textContent;
    expect(panel.querySelector(".gv-badge").textContent).toBe("NaN");
    expect(text).toContain("NaN first appeared in the forward of addmm: from an Inf input.");
    expect(text).toContain("Phaseforward");
    expect(text).toContain("Where/home/u/project/model.py:14");
    expect(panel.querySelector(".gv-code").textContent).toBe("return self.head(torch.relu(h))");
    const marks = [...panel.querySelectorAll(".gv-link")].find((a) => a.textContent === "AddmmBackward0");
    marks.click();
    expect(ctx.reveal).toHaveBeenCalledWith("g4");
  });

  it("shows a group's verdict and members, and expands it", () => {
    const graph = checkpointGraph(2);
    const panel = document.createElement("aside");
    const ctx = { index: indexGraph(graph), hists: new Float32Array(0), reveal: vi.fn(), toggle: vi.fn(), isCollapsed: () => false, group: vi.fn(), isGrouped: () => true };
    renderInspector(panel, { type: "group", id: "__group_0" }, ctx);
    expect(panel.querySelector(".gv-name").textContent).toBe("blocks.* — 12 parameters, checkpoint");
    expect(panel.querySelector(".gv-badge").textContent).toBe("checkpoint");
    expect(panel.textContent).toContain("Where/home/u/gpt.py:68");
    const links = [...panel.querySelectorAll(".gv-links .gv-link")].map((a) => a.textContent);
    expect(links).toHaveLength(12);
    expect(links[0]).toBe("blocks.0.qkv.weight");
    [...panel.querySelectorAll("button.gv-button")].find((b) => b.textContent === "Draw each parameter").click();
    expect(ctx.group).toHaveBeenCalledWith("__group_0", false);
  });

  it("offers to fold a block back with its siblings", () => {
    const graph = syntheticGraph({ blocks: 12, parts: 3, opsPerPart: 3 });
    const panel = document.createElement("aside");
    const ctx = { index: indexGraph(graph), hists: new Float32Array(0), reveal: vi.fn(), toggle: vi.fn(), isCollapsed: () => true, fold: vi.fn(), isFolded: () => false };
    renderInspector(panel, { type: "module", id: "blocks.3" }, ctx);
    const button = [...panel.querySelectorAll("button")].find((b) => b.textContent.startsWith("Fold"));
    expect(button.textContent).toBe("Fold blocks.1–11 into one box");
    button.click();
    expect(ctx.fold).toHaveBeenCalledWith("__fold_0", true);
    renderInspector(panel, { type: "fold", id: "__fold_0" }, { ...ctx, isFolded: () => true, revealModule: vi.fn() });
    expect(panel.textContent).toContain("11 blocks with the same structure (Block)");
    expect(panel.querySelectorAll(".gv-links .gv-link")).toHaveLength(11);
  });

  it("shows NaN and Inf as they arrive over the wire (\"nan\", \"inf\", \"-inf\"), never as a sign", () => {
    const { graph, hists } = smallModel();
    const nanSummary = { shape: [4, 3], dtype: "float32", device: "cpu", numel: 12, min: "-inf", max: "inf", mean: "nan", std: "nan", norm: "nan", zeros: 0, nan: 3, inf: 2, sampled: false, hist: -1 };
    const nodes = graph.nodes.map((n) => {
      if (n.id === "p0") return { ...n, tensor: { ...n.tensor, grad: nanSummary } };
      if (n.id === "g4") return { ...n, op: { ...n.op, grad_norm_in: "inf" } };
      return n;
    });
    const verdicts = graph.verdicts.map((v, i) => (i === nodes.find((n) => n.id === "p0").verdict ? { ...v, grad_norm: "nan" } : v));
    const index = indexGraph({ ...graph, nodes, verdicts });
    const panel = document.createElement("aside");
    const ctx = { index, hists: toFloat32(hists), reveal: vi.fn(), toggle: vi.fn(), isCollapsed: () => false };
    renderInspector(panel, { type: "node", id: "p0" }, ctx);
    const gradient = [...panel.querySelectorAll("section")].find((sec) => sec.querySelector("h4")?.textContent === "Gradient");
    expect(gradient.textContent).toContain("min … max-Inf … Inf");
    expect(gradient.textContent).toContain("mean ± stdNaN ± NaN");
    expect(gradient.textContent).toContain("normNaN");
    expect(panel.textContent).toContain("Grad normNaN");
    renderInspector(panel, { type: "node", id: "g4" }, ctx);
    expect(panel.textContent).toContain("grad norm inInf");
  });

  it("cuts histogram rows by the graph's hist_bins", () => {
    const { graph } = smallModel();
    const p0 = graph.nodes.find((n) => n.id === "p0");
    const hists = new Float32Array(32).fill(1); // 32 counts: two rows of 16, or four of 8
    const bars = (bins) => {
      const nodes = graph.nodes.map((n) => (n.id === "p0" ? { ...n, tensor: { ...n.tensor, value: { ...p0.tensor.value, hist: 1 } } } : n));
      const panel = document.createElement("aside");
      renderInspector(panel, { type: "node", id: "p0" }, { index: indexGraph({ ...graph, nodes, hist_bins: bins }), hists, reveal: vi.fn(), toggle: vi.fn(), isCollapsed: () => false });
      return panel.querySelectorAll(".gv-hist rect").length;
    };
    expect(bars(16)).toBe(16);
    expect(bars(8)).toBe(8);
    expect(bars(undefined)).toBe(0); // no bin count, no histogram
  });
});

describe("sharedMessage", () => {
  const v = (name, message) => /** @type {any} */ ({ name, message });
  it("speaks of each parameter when the messages differ only by the name", () => {
    const m = sharedMessage([v("a.w", "a.w gets no gradient: cut at x.py:3."), v("b.w", "b.w gets no gradient: cut at x.py:3.")]);
    expect(m).toBe("Each of these 2 parameters gets no gradient: cut at x.py:3.");
  });

  it("keeps the clauses they share, and never ends inside `code`", () => {
    const msgs = [
      v("a.w", "a.w gets no gradient: it runs inside `checkpoint(f, x; y)` at g.py:6; the op: linear at g.py:9."),
      v("b.w", "b.w gets no gradient: it runs inside `checkpoint(f, x; y)` at g.py:6; the op: layer_norm at g.py:8."),
    ];
    expect(sharedMessage(msgs)).toBe("Each of these 2 parameters gets no gradient: it runs inside `checkpoint(f, x; y)` at g.py:6.");
  });

  it("gives up when a message does not start with its own name, or the first clause differs", () => {
    expect(sharedMessage([v("a", "The loss is NaN."), v("b", "The loss is NaN.")])).toBeNull();
    expect(sharedMessage([v("a", "a is frozen: x."), v("b", "b gets no gradient: y.")])).toBeNull();
    expect(sharedMessage([v("a", "a is frozen.")])).toBe("a is frozen.");
  });
});

describe("richText", async () => {
  const { richText, h } = await import("../src/ui/dom.js");
  it("keeps the text as written, code in <code>, a lone backtick as text", () => {
    for (const text of ["a `b.c_d()` e", "no code", "lone ` tick", "`x` and `y` then `z"]) {
      const el = h("p", {}, richText(text));
      expect(el.textContent).toBe(text);
    }
    const el = h("p", {}, richText("fix: `torch.log(x.clamp_min(1e-12))`."));
    expect([...el.querySelectorAll("code")].map((c) => c.textContent)).toEqual(["`torch.log(x.clamp_min(1e-12))`"]);
    expect(el.querySelectorAll("wbr").length).toBeGreaterThan(0);
    expect(h("p", {}, richText("a ` b")).querySelector("code")).toBeNull();
  });
});
