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
  let viz = null;
  const render = (dot) => viz.renderString(dot, { format: "svg", engine: "dot" });
  return {
    /** @param {string} dot @returns {Promise<string>} the SVG text */
    async layout(dot) {
      viz ??= await createInstance();
      try {
        return render(dot);
      } catch {
        viz = null;
        viz = await createInstance();
        return render(dot);
      }
    },
  };
}
