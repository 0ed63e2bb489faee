// Watch traits built to js/STATE.md ("Watch widget state") for the watch tests, and a model
// object that behaves like anywidget's (get/set/on/off/save_changes, change events).

const NONE = 0;
const ZERO = 1;
const FINITE = 2;
const NONFINITE = 3;
export const STATES = { NONE, ZERO, FINITE, NONFINITE };

const dv = (typed) => new DataView(typed.buffer, typed.byteOffset, typed.byteLength);

/**
 * Traits for `rows` rows of `names`: grad norm of row r, column c is (c + 1) * 10^(-r/10) unless
 * `cells` overrides it: {"r,c": [state, norm]}. Update ratios on even rows.
 */
export function watchTraits({ names = ["enc.weight", "enc.bias", "head.weight"], rows = 10, steps = null, cells = {}, timeline = {} } = {}) {
  const p = names.length;
  const grad = new Float32Array(rows * p);
  const ratio = new Float32Array(rows * p).fill(NaN);
  const weight = new Float32Array(rows * p).fill(NaN);
  const state = new Uint8Array(rows * p).fill(FINITE);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < p; c++) {
      const i = r * p + c;
      grad[i] = (c + 1) * 10 ** (-r / 10);
      if (r % 2 === 0) [ratio[i], weight[i]] = [1e-3 * (c + 1), 2];
      const cell = cells[`${r},${c}`];
      if (cell) [state[i], grad[i]] = cell;
    }
  }
  const stepNumbers = Int32Array.from(steps ?? Array.from({ length: rows }, (_, r) => r));
  return {
    timeline: {
      version: 1,
      names,
      modules: names.map((n) => (n.includes(".") ? n.slice(0, n.lastIndexOf(".")) : "")),
      nodes: names.map(() => null),
      rows,
      every: 1,
      stride: 1,
      first_nonfinite: null,
      vanish: 1e-7,
      explode: 10,
      live: true,
      ...timeline,
    },
    steps: dv(stepNumbers),
    grad_norm: dv(grad),
    param_norm: dv(weight),
    update_ratio: dv(ratio),
    state: dv(state),
    graph: {},
    edge_norms: new DataView(new ArrayBuffer(0)),
    hists: new DataView(new ArrayBuffer(0)),
  };
}

/** anywidget's model, as far as the widget uses it. `push(traits)` is Python setting traits. */
export function fakeModel(traits) {
  const values = { step: -1, selected: "", ...traits };
  const listeners = new Map();
  const fire = (key) => [...(listeners.get(`change:${key}`) ?? [])].forEach((fn) => fn());
  return {
    values,
    saved: 0,
    get: (key) => values[key],
    set(key, value) {
      values[key] = value;
      fire(key);
    },
    on(event, fn) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(fn);
    },
    off(event, fn) {
      listeners.get(event)?.delete(fn);
    },
    save_changes() {
      this.saved++;
    },
    /** Python sets several traits in one message: values first, then the change events. */
    push(next) {
      Object.assign(values, next);
      for (const key of Object.keys(next)) fire(key);
    },
    listeners,
  };
}

/** Let queued microtasks (the coalesced reload) run. */
export const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
