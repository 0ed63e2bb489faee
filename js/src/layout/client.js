// Main-thread side of the layout worker: keeps Graphviz off the page's thread so a slow
// layout never freezes the notebook. One request runs at a time; a request that takes too
// long terminates the worker (the only way to stop a WASM layout), and a crashed worker is
// replaced and the request retried once.

export const LAYOUT_TIMEOUT_MS = 20_000;

/**
 * A factory for classic workers started from the worker script's source text.
 * @param {string} source
 * @returns {() => Worker}
 */
export function blobWorkerFactory(source) {
  /** @type {string|null} */
  let url = null;
  return () => {
    url ??= URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    return new Worker(url);
  };
}

/**
 * A layout request: queued, then in flight (with an id and a timer).
 * @typedef {object} Job
 * @property {string} dot
 * @property {(svg: string) => void} resolve
 * @property {(err: Error) => void} reject
 * @property {boolean} retried
 * @property {number} [id]
 * @property {ReturnType<typeof setTimeout>} [timer]
 */

/**
 * The worker's answer (layout/worker.js).
 * @typedef {{id: number, svg?: string, error?: string}} LayoutReply
 */

export class LayoutClient {
  /**
   * @param {() => Worker} spawn
   * @param {number} timeoutMs
   */
  constructor(spawn, timeoutMs = LAYOUT_TIMEOUT_MS) {
    this.spawn = spawn;
    this.timeoutMs = timeoutMs;
    /** @type {Worker|null} */
    this.worker = null;
    /** @type {Job[]} */
    this.queue = [];
    /** @type {Job|null} */
    this.current = null;
    this.nextId = 1;
  }

  /** Start the worker (and its WASM compile) before the first request needs it. */
  warm() {
    try {
      this.#ensureWorker();
    } catch {
      // Reported by the first layout() call, which tries again.
    }
  }

  /** @param {string} dot @returns {Promise<string>} SVG text */
  layout(dot) {
    return new Promise((resolve, reject) => {
      this.queue.push({ dot, resolve, reject, retried: false });
      this.#pump();
    });
  }

  #ensureWorker() {
    if (this.worker) return this.worker;
    const worker = this.spawn();
    worker.onmessage = (event) => this.#settle(event.data);
    worker.onerror = (event) => {
      event.preventDefault?.();
      this.#crashed(event.message || "the layout worker stopped");
    };
    this.worker = worker;
    return worker;
  }

  #pump() {
    if (this.current) return;
    const job = this.queue.shift();
    if (!job) return;
    let worker;
    try {
      worker = this.#ensureWorker();
    } catch (err) {
      job.reject(new Error(`Could not start the layout worker: ${err instanceof Error ? err.message : String(err)}`));
      this.#pump();
      return;
    }
    job.id = this.nextId++;
    job.timer = setTimeout(() => this.#timedOut(job), this.timeoutMs);
    this.current = job;
    worker.postMessage({ id: job.id, dot: job.dot });
  }

  /** @param {LayoutReply} reply */
  #settle({ id, svg, error }) {
    const job = this.current;
    if (!job || job.id !== id) return;
    this.#finish();
    if (error === undefined) job.resolve(svg ?? "");
    else job.reject(new Error(error));
  }

  /** @param {string} message */
  #crashed(message) {
    const job = this.current;
    this.#dropWorker();
    if (!job) return;
    this.#finish();
    if (job.retried) job.reject(new Error(`Graphviz layout failed: ${message}`));
    else this.queue.unshift({ ...job, retried: true });
  }

  /** @param {Job} job */
  #timedOut(job) {
    if (this.current !== job) return;
    this.#dropWorker();
    this.#finish();
    job.reject(new Error(`Graphviz layout took longer than ${this.timeoutMs / 1000} s and was stopped.`));
  }

  /** Clear the request in flight; the next one starts after the caller has settled this one. */
  #finish() {
    clearTimeout(this.current?.timer);
    this.current = null;
    queueMicrotask(() => this.#pump());
  }

  #dropWorker() {
    this.worker?.terminate();
    this.worker = null;
  }
}
