// @vitest-environment happy-dom
// Precision headroom in the watch view (js/STATE.md, "Headroom"): the banner's line comes from Python's
// words, "Show it" selects the parameter closest to overflow and draws its peak against the limit; a
// headroom trait shorter than the rows (not synced yet) draws nothing; hostile names stay text.
import { afterEach, describe, expect, it } from "vitest";
import { createLayoutEngine } from "../src/layout/core.js";
import { mountWatch } from "../src/watch/app.js";
import { readWatch } from "../src/watch/data.js";
import { headroomProblem, peakValues } from "../src/watch/headroom.js";
import { fakeModel, settle, watchTraits } from "./watch-helpers.js";

const HOSTILE = "<img src=x onerror=alert(1)>";
const engine = createLayoutEngine();
let cleanups = [];
afterEach(() => {
  cleanups.forEach((fn) => fn());
  cleanups = [];
  document.body.replaceChildren();
});

const param = (name, bits, flagged_at = null) => ({
  name, dtype: "float16", limit: 65504, step: 9, peak: 65504 / 2 ** bits, bits, exact: true,
  trend: -0.5, steps_left: bits / 0.5, flagged_at, underflow: 0, weight_bits: 10, text: `${name}'s gradient (float16) peaks at ...`,
});

/** Three float16 columns; the second flagged at step 4; bits shrinking from 12 to 3 over 10 rows. */
function traits({ names = ["enc.weight", `${HOSTILE}.weight`, "head.weight"], rows = 10, short = false } = {}) {
  const bits = new Float32Array(rows * names.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < names.length; c++) bits[r * names.length + c] = 12 - r + c;
  const headroom = {
    step: rows - 1,
    params: [param(names[0], 3), param(names[1], 4, 4), param(names[2], 5)],
    charted: [true, true, true],
    flagged: [1],
    title: "Heading for float16 overflow",
    text: `${names[1]} heads for float16 overflow: its gradient peaks at 4.09e3 (4.0 bits below 65504) (flagged at step 4).`,
    note: "",
  };
  const base = watchTraits({ names, rows, timeline: { headroom } });
  const sent = short ? bits.subarray(0, names.length) : bits;
  return { ...base, headroom: new DataView(sent.buffer, sent.byteOffset, sent.byteLength) };
}

describe("headroom", () => {
  it("reads the banner line and the peaks from the traits", () => {
    const data = readWatch(fakeModel(traits()));
    const line = headroomProblem(data);
    expect(line).toMatchObject({ kind: "headroom", columns: [1], row: 4, title: "Heading for float16 overflow" });
    const peaks = peakValues(data, 1, 65504);
    expect(peaks[0]).toBeCloseTo(65504 / 2 ** 13, 3);
    expect(peaks[9]).toBeCloseTo(65504 / 2 ** 4, 3);
    expect(readWatch(fakeModel(traits({ short: true }))).headroom).toBeNull(); // not synced in full yet
  });

  it("shows the line, and Show it selects the parameter and draws its chart with the limit", async () => {
    const el = document.createElement("div");
    document.body.append(el);
    const model = fakeModel(traits());
    cleanups.push(mountWatch(el, model, { engine }));
    await settle();
    const line = el.querySelector('.gv-wt-problem[data-kind="headroom"]');
    expect(line.querySelector("strong").textContent).toBe("⚠ Heading for float16 overflow");
    expect(line.querySelector(".gv-wt-problem-text").textContent).toContain(`${HOSTILE}.weight heads for`);
    expect(el.querySelector("img")).toBeNull();
    const box = el.querySelector(".gv-wt-headroom");
    expect(box.hidden).toBe(true);
    line.querySelector("button").click();
    await settle();
    expect(model.get("selected")).toBe(`${HOSTILE}.weight`);
    expect(model.get("step")).toBe(4);
    expect(box.hidden).toBe(false);
    expect(box.querySelector(".gv-chart-limit-label").textContent).toBe("float16 limit 65504");
    expect(box.querySelectorAll('.gv-chart-line[data-column="1"]').length).toBe(1);
    expect(box.querySelector(".gv-wt-headroom-text").textContent).toContain("peaks at");
  });
});
