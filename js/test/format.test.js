// Numbers as they come over the wire (js/src/types.js WireNumber: Python's `_num` in
// gradviz/view/_state.py sends NaN/Inf as "nan"/"inf"/"-inf") and as the views print them.
import { describe, expect, it } from "vitest";
import { formatCount, formatNumber, formatShape } from "../src/format.js";
import { readNumber } from "../src/types.js";

describe("readNumber", () => {
  it("decodes the strings Python sends for non-finite numbers", () => {
    expect(readNumber("nan")).toBeNaN();
    expect(readNumber("inf")).toBe(Infinity);
    expect(readNumber("-inf")).toBe(-Infinity);
  });

  it("passes numbers through, and null means not computed", () => {
    expect(readNumber(1.5)).toBe(1.5);
    expect(readNumber(0)).toBe(0);
    expect(readNumber(-2e-9)).toBe(-2e-9);
    expect(readNumber(null)).toBeNull();
    expect(readNumber(undefined)).toBeNull();
  });

  it("reads nothing else as a number", () => {
    for (const x of ["NaN", "Infinity", "1.5", "", true, {}]) expect(readNumber(/** @type {any} */ (x))).toBeNull();
  });
});

describe("formatNumber", () => {
  it("prints NaN and the infinities, whether numbers or wire strings", () => {
    expect(formatNumber("nan")).toBe("NaN");
    expect(formatNumber("inf")).toBe("Inf");
    expect(formatNumber("-inf")).toBe("-Inf");
    expect(formatNumber(NaN)).toBe("NaN");
    expect(formatNumber(Infinity)).toBe("Inf");
    expect(formatNumber(-Infinity)).toBe("-Inf");
  });

  it("prints finite numbers compactly and none as a dash", () => {
    expect(formatNumber(0)).toBe("0");
    expect(formatNumber(1.23456)).toBe("1.235");
    expect(formatNumber(-0.5)).toBe("-0.5");
    expect(formatNumber(123456)).toBe("1.23e+5");
    expect(formatNumber(1e-7)).toBe("1.00e-7");
    expect(formatNumber(null)).toBe("–");
    expect(formatNumber(undefined)).toBe("–");
  });

  it("formats shapes and counts", () => {
    expect(formatShape([4, 3])).toBe("(4, 3)");
    expect(formatShape([])).toBe("scalar");
    expect(formatShape(null)).toBe("?");
    expect(formatCount(4100)).toBe("4,100");
  });
});
