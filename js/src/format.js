// Number and shape formatting shared by DOT labels and the inspector.
import { readNumber } from "./types.js";

/**
 * "(4, 3)"; "scalar" for a 0-d shape; "?" when unknown.
 * @param {number[]|null|undefined} shape
 */
export function formatShape(shape) {
  if (!Array.isArray(shape)) return "?";
  return shape.length === 0 ? "scalar" : `(${shape.join(", ")})`;
}

/**
 * Compact number: 4 significant digits, exponent notation for very large or small values; "NaN",
 * "Inf", "-Inf" for the non-finite ones (also as they come over the wire: "nan", "inf", "-inf");
 * "–" for none.
 * @param {import("./types.js").WireNumber|undefined} value
 */
export function formatNumber(value) {
  const x = readNumber(value);
  if (x === null) return "–";
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "Inf" : "-Inf";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

/**
 * Thousands separators for counts ("4,100").
 * @param {number} n
 */
export const formatCount = (n) => Number(n).toLocaleString("en-US");
