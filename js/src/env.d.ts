// Modules esbuild provides at build time (build.mjs), for `npm run typecheck`.

/** The layout worker's script, built first and inlined as text (workerSourcePlugin in build.mjs). */
declare module "gradviz:layout-worker" {
  const source: string;
  export default source;
}

/** Stylesheets, inlined as text (`loader: {".css": "text"}` in build.mjs). */
declare module "*.css" {
  const css: string;
  export default css;
}
