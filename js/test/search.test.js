import { describe, expect, it } from "vitest";
import { indexGraph } from "../src/graph-index.js";
import { search } from "../src/search.js";
import { smallModel, syntheticGraph } from "./helpers.js";

describe("search", () => {
  const index = indexGraph(smallModel().graph);

  it("finds a parameter by its exact name first", () => {
    const hits = search(index, "head.weight");
    expect(hits[0]).toMatchObject({ type: "node", id: "g9", rank: 0 });
  });

  it("matches prefixes, case-insensitively", () => {
    const hits = search(index, "ENC.");
    expect(hits.map((h) => h.id).sort()).toEqual(["p0", "p1"]);
  });

  it("matches the start of a dotted segment", () => {
    expect(search(index, "bias").map((h) => h.text).sort()).toEqual(["<img src=x onerror=alert(1)>.bias", "enc.bias", "head.bias"]);
  });

  it("does not match arbitrary substrings", () => {
    expect(search(index, "eight")).toEqual([]);
    expect(search(index, "ackward")).toEqual([]);
  });

  it("finds modules by path", () => {
    expect(search(index, "head")[0]).toMatchObject({ type: "module", id: "head", rank: 0 });
  });

  it("ranks an exact id before longer ones sharing its prefix", () => {
    const big = indexGraph(syntheticGraph({ blocks: 10 }));
    const hits = search(big, "g3");
    expect(hits[0].id).toBe("g3");
    expect(hits.slice(1).every((h) => h.rank === 1)).toBe(true);
  });

  it("returns nothing for a blank query", () => {
    expect(search(index, "   ")).toEqual([]);
  });
});
