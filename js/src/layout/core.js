// DOT -> SVG with Graphviz compiled to WebAssembly (@viz-js/viz). Runs inside the layout
// worker in the browser, and directly in Node for the tests.
import { instance } from "@viz-js/viz";

/**
 * A layout engine that owns one Viz instance. WASM instances sometimes throw
 * ("table index is out of bounds") after a few renders, so on any error the instance is
 * recreated and the layout tried once more; a second error is the caller's.
 * @param {() => Promise<{renderString: (dot: string, options: object) => string}>} createInstance
 */
export function createLayoutEngine(createInstance = instance) {
  /** @type {{renderString: (dot: string, options: object) => string}|null} */
  let viz = null;
  /**
   * @param {{renderString: (dot: string, options: object) => string}} engine
   * @param {string} dot
   */
  const render = (engine, dot) => engine.renderString(dot, { format: "svg", engine: "dot" });
  return {
    /** @param {string} dot @returns {Promise<string>} the SVG text */
    async layout(dot) {
      viz ??= await createInstance();
      try {
        return render(viz, dot);
      } catch {
        viz = null;
        viz = await createInstance();
        return render(viz, dot);
      }
    },
  };
}
