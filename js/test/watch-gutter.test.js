// The label column's width (gutter.js): the longest label as drawn, every band open, between the
// slider's minimum and the cap past which names are clipped from the start.
import { describe, expect, it } from "vitest";
import { GUTTER } from "../src/watch/cells.js";
import { readWatch } from "../src/watch/data.js";
import { CHAR_PX, INDENT, MIN_GUTTER, clipStart, gutterWidth } from "../src/watch/gutter.js";
import { fakeModel, watchTraits } from "./watch-helpers.js";

const read = (names) => readWatch(fakeModel(watchTraits({ names, rows: 2 })));
const measure = (text) => text.length * CHAR_PX; // a monospace stand-in: widths follow lengths

describe("label column", () => {
  it("is the slider's minimum for short names", () => {
    expect(gutterWidth(read(["0.weight", "0.bias", "2.weight"]), measure)).toBe(MIN_GUTTER);
  });

  it("grows with the longest name and its band indentation, up to the cap", () => {
    const long = "encoder.layers.0.self_attention.q_proj.weight"; // under bands encoder.layers and .0
    const names = [long, "encoder.layers.0.self_attention.q_proj.bias", "encoder.layers.1.mlp.weight", "encoder.layers.1.mlp.bias", "head.weight"];
    const data = read(names);
    const depth = Math.max(...data.tree.bands.map((b) => b.depth)) + 1;
    const width = gutterWidth(data, measure);
    expect(width).toBe(Math.min(GUTTER, Math.ceil(6 + depth * INDENT + long.length * CHAR_PX + 14)));
    expect(width).toBeGreaterThan(MIN_GUTTER);
    expect(gutterWidth(read([`${"x".repeat(80)}.weight`]), measure)).toBe(GUTTER); // clipped past the cap
  });

  it("clips a name from the start, keeping the end that tells names apart", () => {
    expect(clipStart("blocks.11.mlp.2.weight", 12)).toBe("…lp.2.weight") // 12 characters;
    expect(clipStart("head.weight", 12)).toBe("head.weight");
  });
});
