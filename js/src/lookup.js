// A Map read for a key the caller knows is there: the structures are built from the same state
// (the graph index from `graph`, the heatmap's rows from the watched names).

/**
 * `map.get(key)`, or an error naming the key when it is missing (a bug, not a user error).
 * @template K, V
 * @param {Map<K, V>} map
 * @param {K} key
 * @returns {V}
 */
export function lookup(map, key) {
  const value = map.get(key);
  if (value === undefined) throw new Error(`gradviz: ${String(key)} is missing from an index built from the same state`);
  return value;
}
