import { describe, expect, it } from "vitest";
import { histRow, toFloat32 } from "../src/state.js";
import { HIST_BINS } from "../src/types.js";

describe("binary traits", () => {
  it("reads float32 little-endian from an unaligned DataView", () => {
    const buf = new ArrayBuffer(13);
    const view = new DataView(buf, 1, 12);
    [1.5, NaN, -2].forEach((x, i) => view.setFloat32(i * 4, x, true));
    const out = toFloat32(view);
    expect(out[0]).toBe(1.5);
    expect(Number.isNaN(out[1])).toBe(true);
    expect(out[2]).toBe(-2);
  });

  it("accepts missing buffers", () => {
    expect(toFloat32(null)).toHaveLength(0);
  });

  it("slices a histogram row, or null for -1 and out of range", () => {
    const hists = Float32Array.from({ length: 2 * HIST_BINS }, (_, i) => i);
    expect([...histRow(hists, 1)]).toEqual(Array.from({ length: HIST_BINS }, (_, i) => HIST_BINS + i));
    expect(histRow(hists, -1)).toBeNull();
    expect(histRow(hists, 2)).toBeNull();
  });
});
