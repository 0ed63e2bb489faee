// @vitest-environment happy-dom
import { describe, expect, it, vi } from "vitest";
import { indexGraph } from "../src/graph-index.js";
import { toFloat32 } from "../src/state.js";
import { renderInspector } from "../src/ui/inspector.js";
import { smallModel } from "./helpers.js";

function inspect(target, overrides = {}) {
  const { graph, hists } = smallModel();
  const panel = document.createElement("aside");
  const ctx = { index: indexGraph(graph), hists: toFloat32(hists), reveal: vi.fn(), toggle: vi.fn(), isCollapsed: () => false, ...overrides };
  renderInspector(panel, target, ctx);
  return { panel, ctx, text: panel.textContent };
}

describe("inspector", () => {
  it("explains a red parameter: cause, message, where, the line, fix", () => {
    const { text, panel } = inspect({ type: "node", id: "p0" });
    expect(panel.querySelector(".gv-name").textContent).toBe("enc.weight");
    expect(text).toContain("Causedetach");
    expect(text).toContain("enc.weight gets no gradient");
    expect(text).toContain("Wheremodel.py:13");
    expect(panel.querySelector(".gv-code").textContent).toBe("h = self.enc(x).detach()");
    expect(text).toContain("FixRemove the .detach()");
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

  it("shows a module with its problems and an expand button", () => {
    const { panel, ctx, text } = inspect({ type: "module", id: "enc" }, { isCollapsed: () => true });
    expect(text).toContain("Problems (2)");
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
