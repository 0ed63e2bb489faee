// @vitest-environment happy-dom
// The display scale: asked for from Python (the `scale` trait), chosen in the toolbar, remembered in
// the browser, and the range Python and JS accept.
import { afterEach, describe, expect, it } from "vitest";
import { createLayoutEngine } from "../src/layout/core.js";
import { mountApp } from "../src/ui/app.js";
import { MAX_DISPLAY_SCALE, MIN_DISPLAY_SCALE, rememberedScale, validScale } from "../src/ui/scale.js";
import { smallModel } from "./helpers.js";
import { fakeModel } from "./watch-helpers.js";

const engine = createLayoutEngine();
const cleanups = [];
afterEach(() => {
  cleanups.splice(0).forEach((fn) => fn());
  localStorage.clear();
});

async function mount(extra = {}) {
  const { graph, edgeNorms, hists } = smallModel();
  const model = fakeModel({ graph, edge_norms: edgeNorms, hists, ...extra });
  const el = document.createElement("div");
  document.body.append(el);
  cleanups.push(mountApp(el, model, engine), () => el.remove());
  await expect.poll(() => Number(el.querySelector(".gradviz-root")?.dataset.draws ?? 0)).toBeGreaterThan(0);
  const root = /** @type {HTMLElement} */ (el.querySelector(".gradviz-root"));
  const select = /** @type {HTMLSelectElement} */ (el.querySelector("select.gv-scale"));
  return { model, root, select };
}

describe("display scale", () => {
  it("starts at 1 with nothing asked or remembered, and offers 100% to 200%", async () => {
    const { root, select } = await mount();
    expect(root.style.getPropertyValue("--gv-scale")).toBe("1");
    expect([...select.options].map((o) => o.textContent)).toEqual(["100%", "125%", "150%", "200%"]);
  });

  it("follows Python's scale, then the toolbar, which it remembers and sends back", async () => {
    const { model, root, select } = await mount({ scale: 1.5 });
    expect(root.style.getPropertyValue("--gv-scale")).toBe("1.5");
    expect(select.value).toBe("1.5");
    select.value = "1.25";
    select.dispatchEvent(new Event("change"));
    expect(root.style.getPropertyValue("--gv-scale")).toBe("1.25");
    expect(model.get("scale")).toBe(1.25);
    expect(model.saved).toBeGreaterThan(0);
    expect(rememberedScale()).toBe(1.25);
    model.set("scale", 2); // Python changes it again
    expect(root.style.getPropertyValue("--gv-scale")).toBe("2");
    expect(select.value).toBe("2");
  });

  it("opens at the remembered scale when Python asks for none (0)", async () => {
    localStorage.setItem("gradviz.scale", "1.25");
    const { root } = await mount({ scale: 0 });
    expect(root.style.getPropertyValue("--gv-scale")).toBe("1.25");
  });

  it("ignores scales out of range, as Python refuses them", () => {
    expect([MIN_DISPLAY_SCALE, MAX_DISPLAY_SCALE]).toEqual([1, 2]); // gradviz/view/_widget.py: GraphWidget
    for (const bad of [0, 0.5, 2.5, NaN, "x", null]) expect(validScale(bad)).toBeNull();
    expect(validScale("1.5")).toBe(1.5);
  });
});
