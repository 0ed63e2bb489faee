// Find nodes and modules by name. A hit is an exact match, a prefix match, or a prefix of a
// dotted segment ("layers.3" finds "enc.layers.3.weight"); never an arbitrary substring.

const EXACT = 0;
const PREFIX = 1;
const SEGMENT = 2;

/**
 * @typedef {object} SearchHit
 * @property {"node"|"module"} type
 * @property {string} id      node id, or module path
 * @property {string} text    what matched, to show in the result list
 * @property {number} rank    0 exact, 1 prefix, 2 segment prefix
 */

/** The result list shows this many hits, then says how many more there are. */
export const SHOWN_HITS = 8;

/**
 * The first `limit` hits, best first.
 * @param {import("./graph-index.js").GraphIndex} index
 * @param {string} query
 * @param {number} limit
 * @returns {SearchHit[]}
 */
export function search(index, query, limit = SHOWN_HITS) {
  return searchAll(index, query).slice(0, limit);
}

/**
 * Every hit, best first.
 * @param {import("./graph-index.js").GraphIndex} index
 * @param {string} query
 * @returns {SearchHit[]}
 */
export function searchAll(index, query) {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  /** @type {SearchHit[]} */
  const hits = [];
  /**
   * @param {SearchHit["type"]} type
   * @param {string} id
   * @param {(string|null|undefined)[]} keys
   */
  const consider = (type, id, keys) => {
    /** @type {SearchHit|null} */
    let best = null;
    for (const key of keys) {
      if (!key) continue;
      const rank = rankOf(key.toLowerCase(), q);
      if (rank !== null && (best === null || rank < best.rank)) best = { type, id, text: key, rank };
    }
    if (best) hits.push(best);
  };
  for (const n of index.byId.values()) consider("node", n.id, [n.tensor?.name, n.label, n.id]);
  for (const m of index.modules.values()) if (m.path) consider("module", m.path, [m.path]);

  hits.sort((a, b) => a.rank - b.rank || a.text.length - b.text.length || a.text.localeCompare(b.text));
  return hits;
}

/**
 * @param {string} key
 * @param {string} q
 * @returns {number|null}
 */
function rankOf(key, q) {
  if (key === q) return EXACT;
  if (key.startsWith(q)) return PREFIX;
  let dot = key.indexOf(".");
  while (dot !== -1) {
    if (key.startsWith(q, dot + 1)) return SEGMENT;
    dot = key.indexOf(".", dot + 1);
  }
  return null;
}
