import { describe, expect, it } from "vitest";
import { histRow, toFloat32 } from "../src/state.js";

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

  it("slices a histogram row of the graph's bin count, or null for -1 and out of range", () => {
    const bins = 16;
    const hists = Float32Array.from({ length: 2 * bins }, (_, i) => i);
    expect([...histRow(hists, 1, bins)]).toEqual(Array.from({ length: bins }, (_, i) => bins + i));
    expect(histRow(hists, -1, bins)).toBeNull();
    expect(histRow(hists, 2, bins)).toBeNull();
  });

  it("takes the bin count from the state, not from a constant of its own", () => {
    const hists = Float32Array.from({ length: 12 }, (_, i) => i);
    expect([...histRow(hists, 1, 4)]).toEqual([4, 5, 6, 7]);
    expect([...histRow(hists, 1, 6)]).toEqual([6, 7, 8, 9, 10, 11]);
    expect(histRow(hists, 2, 6)).toBeNull(); // past the end
    expect(histRow(hists, 0, undefined)).toBeNull(); // a graph without `hist_bins`: no histogram
    expect(histRow(hists, 0, 0)).toBeNull();
    expect(histRow(hists, 0, 2.5)).toBeNull();
  });
});
