// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { svgSnapshot } from "../src/ui/export.js";

describe("SVG export", () => {
  it("is a standalone document of the whole drawing with a background and no selection mark", () => {
    const host = document.createElement("div");
    host.style.background = "rgb(33, 33, 33)";
    host.innerHTML = `<svg xmlns="http://www.w3.org/2000/svg" class="gv-svg" viewBox="10 20 30 40">
      <g class="node gv-op gv-selected"><title>g1</title><path fill="#eceff1" d="M0 0"/><text>AddBackward0</text></g></svg>`;
    document.body.append(host);
    const svg = host.querySelector("svg");
    const text = svgSnapshot(svg, { x: -4, y: -300, w: 200, h: 304 });
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const root = doc.documentElement;
    expect(root.getAttribute("viewBox")).toBe("-4 -300 200 304");
    expect(root.getAttribute("width")).toBe("200");
    expect(root.getAttribute("height")).toBe("304");
    expect(root.querySelector("rect").getAttribute("fill")).toBe("rgb(33, 33, 33)");
    expect(root.querySelector("text").textContent).toBe("AddBackward0");
    expect(text).not.toContain("gv-selected");
    expect(svg.getAttribute("class")).toBe("gv-svg"); // the drawing on screen is left alone
    expect(svg.querySelector("g").classList.contains("gv-selected")).toBe(true);
    host.remove();
  });
});
