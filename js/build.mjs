// Build the widget bundle: ../gradviz/static/widget.js, one ESM file with everything inlined.
// The layout worker (Graphviz WASM + worker.js) is built first as a classic IIFE script and
// embedded as text, so the page can start it from a blob URL (also from file://).
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const common = { bundle: true, minify: true, charset: "utf8", target: "es2022", logLevel: "warning", legalComments: "none" };

const worker = await esbuild.build({
  ...common,
  entryPoints: [here("src/layout/worker.js")],
  format: "iife",
  platform: "browser",
  write: false,
});

/** Resolves `import source from "gradviz:layout-worker"` to the worker script's text. */
const workerSourcePlugin = {
  name: "layout-worker-source",
  setup(build) {
    build.onResolve({ filter: /^gradviz:layout-worker$/ }, (args) => ({ path: args.path, namespace: "layout-worker" }));
    build.onLoad({ filter: /.*/, namespace: "layout-worker" }, () => ({ contents: worker.outputFiles[0].text, loader: "text" }));
  },
};

await esbuild.build({
  ...common,
  entryPoints: [here("src/index.js")],
  format: "esm",
  platform: "browser",
  loader: { ".css": "text" },
  plugins: [workerSourcePlugin],
  outfile: here("../gradviz/static/widget.js"),
});
