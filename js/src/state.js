// Decoding of the binary traits (see js/STATE.md): float32 little-endian buffers.

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
 * The histogram row a summary points at, or null when there is none. `bins` is the graph's
 * `hist_bins` (Python decides the bin count); a graph without it has no readable histogram.
 * @param {Float32Array} hists
 * @param {number|null|undefined} row
 * @param {number|null|undefined} bins
 * @returns {Float32Array|null}
 */
export function histRow(hists, row, bins) {
  if (row == null || row < 0 || bins == null || !Number.isInteger(bins) || bins <= 0) return null;
  const start = row * bins;
  if (start + bins > hists.length) return null;
  return hists.subarray(start, start + bins);
}
