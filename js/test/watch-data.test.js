import { describe, expect, it } from "vitest";
import { MIN_ROW, lineAt, paintReduced, paintRows, rowAtX, rowHeight, tickRows, xOfRow } from "../src/watch/cells.js";
import { cellGrid } from "../src/watch/grid.js";
import { SPECIAL, cellColor } from "../src/watch/colors.js";
import { appendsTo, extendRange, float32From, int32From, nearestRow, niceRange, readWatch, rowAtOrAfter, uint8From } from "../src/watch/data.js";
import { decade, yTicks } from "../src/watch/chart.js";
import { drawnFlags, flagsOf, medianOf } from "../src/watch/flags.js";
import { STATES, fakeModel, watchTraits } from "./watch-helpers.js";

const read = (options) => readWatch(fakeModel(watchTraits(options)));

describe("watch traits", () => {
  it("decodes little-endian arrays whatever their alignment", () => {
    const buf = new ArrayBuffer(13);
    const view = new DataView(buf, 1, 12);
    [1.5, NaN, -2].forEach((x, i) => view.setFloat32(i * 4, x, true));
    const out = float32From(view);
    expect([out[0], Number.isNaN(out[1]), out[2]]).toEqual([1.5, true, -2]);
    const ints = new DataView(new ArrayBuffer(9), 1, 8);
    ints.setInt32(4, 70000, true);
    expect([...int32From(ints)]).toEqual([0, 70000]);
    expect([...uint8From(Uint8Array.from([0, 3, 2]).subarray(1))]).toEqual([3, 2]);
    expect(uint8From(null)).toHaveLength(0);
    expect(float32From(new ArrayBuffer(6))).toHaveLength(1); // a partial element is not read
  });

  it("reads the frozen columns and whether the optimizer moved each, unknown when absent", () => {
    const data = read({ names: ["a", "b", "c"], timeline: { frozen: [false, true, false], moves: [true, null, false] } });
    expect([data.frozen, data.moves, data.vanish]).toEqual([[false, true, false], [true, null, false], 1e-7]);
    const old = read({ names: ["a"], timeline: { frozen: undefined, moves: undefined } });
    expect([old.frozen, old.moves]).toEqual([[false], [null]]);
  });

  it("never reads past a half-synced array", () => {
    const traits = watchTraits({ rows: 6 });
    traits.timeline = { ...traits.timeline, rows: 8 };
    expect(readWatch(fakeModel(traits)).rows).toBe(6);
  });

  it("places the first NaN/Inf step on the first row at or after it", () => {
    const data = read({ rows: 5, steps: [0, 4, 8, 12, 16], timeline: { first_nonfinite: { step: 6, name: "enc.bias" } } });
    expect(data.firstNonfinite).toEqual({ step: 6, name: "enc.bias", row: 2, column: 1 });
  });

  it("finds rows by training step", () => {
    const data = read({ rows: 4, steps: [0, 10, 20, 30] });
    expect([rowAtOrAfter(data, 11), rowAtOrAfter(data, 31)]).toEqual([2, null]);
    expect([nearestRow(data, 14), nearestRow(data, 15), nearestRow(data, 16), nearestRow(data, 99)]).toEqual([1, 1, 2, 3]);
  });

  it("tells an append from a downsampled history", () => {
    const a = read({ rows: 4 });
    expect(appendsTo(a, read({ rows: 6 }))).toBe(true);
    expect(appendsTo(a, read({ rows: 3, steps: [0, 2, 4] }))).toBe(false);
    expect(appendsTo(a, read({ rows: 6, names: ["x", "y", "z"] }))).toBe(false);
  });

  it("colours only finite norms by the scale, in whole decades", () => {
    const data = read({ rows: 3, cells: { "0,0": [STATES.NONFINITE, Infinity], "1,1": [STATES.ZERO, 0], "2,2": [STATES.NONE, NaN] } });
    const range = extendRange(null, data);
    expect(range.max).toBeCloseTo(Math.log10(3)); // the Inf cell is not part of the scale
    expect(niceRange({ min: -3.2, max: 0.4 })).toEqual({ min: -4, max: 1 });
    expect(niceRange({ min: 2, max: 2 })).toEqual({ min: 2, max: 3 });
  });
});

describe("cell colours", () => {
  const range = { min: -4, max: 0 };
  it("gives None, zero and NaN/Inf their own colours, never a scale colour", () => {
    const specials = [cellColor(0, NaN, range), cellColor(1, 0, range), cellColor(3, NaN, range), cellColor(3, Infinity, range)];
    expect(specials).toEqual([SPECIAL.none, SPECIAL.zero, SPECIAL.nonfinite, SPECIAL.nonfinite]);
    const scale = [1e-4, 1e-2, 1].map((v) => cellColor(2, v, range));
    expect(new Set(scale).size).toBe(3);
    for (const c of scale) expect(Object.values(SPECIAL)).not.toContain(c);
  });

  const hex = (pixels, width, x, y) => `#${[...pixels.slice((y * width + x) * 4, (y * width + x) * 4 + 3)].map((v) => v.toString(16).padStart(2, "0")).join("")}`;

  it("paints one RGBA pixel per cell, parameters in display order, then the bands", () => {
    const data = read({ names: ["a.w", "b.w", "a.b"], rows: 2, cells: { "1,1": [STATES.NONE, NaN] } });
    const width = 4;
    const grid = cellGrid(data, null, 0);
    expect(grid.sources).toEqual([0, 2, 1]); // no band: a and b hold no submodules
    const pixels = new Uint8ClampedArray(width * 3 * 4);
    paintRows(pixels, width, grid, { min: -1, max: 1 }, 0, 2, grid.sources);
    // display rows: a.w, a.b, b.w
    expect(hex(pixels, width, 1, 2)).toBe(SPECIAL.none);
    expect(pixels[(2 * width + 1) * 4 + 3]).toBe(255);
    expect(pixels[(0 * width + 2) * 4 + 3]).toBe(0); // column 2 not painted yet
  });

  it("paints a band with the worst of its parameters (frozen ones aside), else their geometric mean", () => {
    const names = ["blocks.0.q.w", "blocks.0.k.w", "blocks.1.q.w", "blocks.1.k.w", "head.w"];
    const cells = { "1,1": [STATES.NONFINITE, NaN], "2,3": [STATES.ZERO, 0], "0,2": [STATES.NONE, NaN] };
    const data = read({ names, rows: 3, cells, timeline: { frozen: [false, false, true, false, false] } });
    const grid = cellGrid(data, null, 0);
    expect(data.tree.bands.map((b) => b.path)).toEqual(["blocks", "blocks.0", "blocks.1"]);
    const width = 3;
    const pixels = new Uint8ClampedArray(width * grid.sources.length * 4);
    const range = { min: -1, max: 1 };
    paintRows(pixels, width, grid, range, 0, 3, grid.sources);
    const band = (path) => data.params + data.tree.bands.findIndex((b) => b.path === path);
    expect([hex(pixels, width, 0, band("blocks.0")), hex(pixels, width, 1, band("blocks.0")), hex(pixels, width, 1, band("blocks"))]).toEqual([
      cellColor(2, Math.sqrt(1 * 2), range), // row 0: norms 1 and 2
      SPECIAL.nonfinite,
      SPECIAL.nonfinite,
    ]);
    expect(hex(pixels, width, 0, band("blocks.1"))).toBe(cellColor(2, 4, range)); // the frozen None left out: only 4
    expect(hex(pixels, width, 2, band("blocks.1"))).toBe(SPECIAL.zero);
    expect(hex(pixels, width, 0, band("blocks"))).toBe(cellColor(2, Math.cbrt(1 * 2 * 4), range));
  });

  it("computes only appended rows, and everything when the columns change", () => {
    const data = read({ names: ["blocks.0.q.w", "blocks.0.k.w", "blocks.1.q.w", "blocks.1.k.w", "h.w"], rows: 4 });
    const first = cellGrid(data, null, 0);
    const more = read({ names: data.names, rows: 6, cells: { "1,0": [STATES.NONFINITE, NaN] } });
    const grown = cellGrid(more, first, 4); // rows 0-3 kept: row 1's NaN is not read
    const band = more.params + 1; // blocks.0
    expect(grown.state[1 * grown.width + band]).toBe(STATES.FINITE);
    expect(grown.state[5 * grown.width + band]).toBe(STATES.FINITE);
    const again = cellGrid(more, grown, 0);
    expect(again.state[1 * again.width + band]).toBe(STATES.NONFINITE);
  });

  it("keeps a one-step NaN visible when many steps share a pixel", () => {
    const data = read({ names: ["w"], rows: 100, cells: { "57,0": [STATES.NONFINITE, Infinity], "12,0": [STATES.ZERO, 0] } });
    const pixels = new Uint8ClampedArray(10 * 4);
    const grid = cellGrid(data, null, 0);
    paintReduced(pixels, 10, grid, { min: -10, max: 1 }, { lo: 0, hi: 100 }, grid.sources);
    const colors = Array.from({ length: 10 }, (_, x) => hex(pixels, 10, x, 0));
    expect(colors[5]).toBe(SPECIAL.nonfinite);
    expect(colors[1]).toBe(SPECIAL.zero);
    expect(colors[0]).toBe(cellColor(2, 1, { min: -10, max: 1 })); // the largest norm of rows 0-9
  });
});

describe("heatmap geometry", () => {
  it("rows are readable whatever the model size: the box scrolls instead of shrinking them", () => {
    expect(rowHeight(4)).toBe(22);
    expect(rowHeight(40)).toBe(MIN_ROW);
    expect(rowHeight(1000)).toBe(MIN_ROW);
    expect(MIN_ROW).toBeGreaterThanOrEqual(14); // 11 px labels
  });

  it("hit-tests lines, gaps included", () => {
    const lines = [{ top: 0 }, { top: 15 }, { top: 33 }];
    expect([lineAt(lines, 15, 5), lineAt(lines, 15, 20), lineAt(lines, 15, 31), lineAt(lines, 15, 40), lineAt(lines, 15, 60)]).toEqual([0, 1, null, 2, null]);
  });

  it("maps x to rows of the window and back", () => {
    const window = { lo: 10, hi: 20 };
    expect(rowAtX(0, 100, window)).toBe(10);
    expect(rowAtX(99.9, 100, window)).toBe(19);
    expect(rowAtX(45, 100, window)).toBe(14);
    expect(xOfRow(14, 100, window)).toBe(45);
  });

  it("puts step ticks on round numbers", () => {
    const steps = Int32Array.from({ length: 100 }, (_, i) => i * 10);
    expect(tickRows(steps, { lo: 0, hi: 100 }).map((r) => steps[r])).toEqual([0, 200, 400, 600, 800]);
  });
});

describe("flags", () => {
  it("flags a norm below `vanish` and a jump above `explode` x the running median", () => {
    const cells = { "3,0": [STATES.FINITE, 1e-9], "8,0": [STATES.FINITE, 50], "9,0": [STATES.NONFINITE, NaN] };
    const data = read({ names: ["w"], rows: 10, cells });
    const flags = flagsOf(data, 0, { vanish: 1e-7, explode: 10 });
    expect(flags.map((f) => [f.row, f.kind])).toEqual([
      [3, "vanish"],
      [8, "explode"],
    ]);
    expect(flags[1].median).toBeGreaterThan(0);
  });

  it("draws one mark per run of vanishing steps, every exploding step", () => {
    const flags = [3, 4, 5, 9].map((row) => ({ row, kind: "vanish", value: 1e-9 }));
    flags.splice(2, 0, { row: 4, kind: "explode", value: 5, median: 0.1 });
    expect(drawnFlags(flags).map((f) => [f.row, f.kind, f.more])).toEqual([
      [3, "vanish", 2],
      [4, "explode", undefined],
      [9, "vanish", 0],
    ]);
  });

  it("needs a few earlier norms before it calls anything a jump", () => {
    const data = read({ names: ["w"], rows: 3, cells: { "2,0": [STATES.FINITE, 1e6] } });
    expect(flagsOf(data, 0, { vanish: 1e-7, explode: 10 })).toEqual([]);
    expect(medianOf([3, 1, 2, 10])).toBe(2.5);
  });
});

describe("chart axis", () => {
  it("labels decades, thinned when many, with 2x and 5x when few", () => {
    const labels = (domain) => yTicks(domain).map((t) => t.label);
    expect(labels({ min: -10.2, max: 1.3 })).toEqual(["10", "0.01", "1e-5", "1e-8"]);
    expect(labels({ min: -1.6, max: -0.6 })).toEqual(["0.1", "0.05", "0.2"]);
    expect(yTicks({ min: -5.5, max: -4.5 })[0].value).toBe(1e-5);
    expect([-5, -2, 0, 3, 4].map(decade)).toEqual(["1e-5", "0.01", "1", "1000", "1e4"]);
  });
});
