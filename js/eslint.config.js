// Lint: ESLint's recommended rules plus a few that catch real bugs; no style rules (esbuild
// minifies the output, and the sources follow one consistent hand style). `npm run lint` allows no
// warning either. Types are tsc's job (`npm run typecheck`, tsconfig.json, over the JSDoc in src/),
// so no TypeScript-aware lint plugin is needed: src/ stays plain JavaScript (env.d.ts is not linted).
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/"] },
  js.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.browser },
    rules: {
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": "error",
      "no-unused-vars": ["error", { args: "after-used", argsIgnorePattern: "^_" }],
    },
  },
  { files: ["src/layout/worker.js"], languageOptions: { globals: globals.worker } },
  { files: ["build.mjs", "eslint.config.js", "test/**"], languageOptions: { globals: { ...globals.node, ...globals.browser } } },
];
