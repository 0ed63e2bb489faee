// Entry of the layout worker: a classic (non-module) script, built to an IIFE and started
// from a blob URL, so it also works from file:// pages. Protocol:
//   in:  {id: number, dot: string}
//   out: {id, svg: string} | {id, error: string}
import { createLayoutEngine } from "./core.js";

const engine = createLayoutEngine();

self.onmessage = async (event) => {
  const { id, dot } = event.data;
  try {
    self.postMessage({ id, svg: await engine.layout(dot) });
  } catch (err) {
    self.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
};
