// Decoding of the binary traits (see js/STATE.md): float32 little-endian buffers.
import { HIST_BINS } from "./types.js";

/**
 * anywidget hands bytes traits over as a DataView; the standalone page may pass an
 * ArrayBuffer or a typed array. Read float32 LE whatever the alignment.
 * @param {DataView|ArrayBuffer|ArrayBufferView|null|undefined} bytes
 * @returns {Float32Array}
 */
export function toFloat32(bytes) {
  if (!bytes) return new Float32Array(0);
  const view =
    bytes instanceof DataView
      ? bytes
      : ArrayBuffer.isView(bytes)
        ? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        : new DataView(bytes);
  const out = new Float32Array(Math.floor(view.byteLength / 4));
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/**
 * The histogram row a summary points at, or null when there is none.
 * @param {Float32Array} hists
 * @param {number|null|undefined} row
 * @returns {Float32Array|null}
 */
export function histRow(hists, row) {
  if (row == null || row < 0) return null;
  const start = row * HIST_BINS;
  if (start + HIST_BINS > hists.length) return null;
  return hists.subarray(start, start + HIST_BINS);
}
