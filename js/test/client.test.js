import { describe, expect, it, vi } from "vitest";
import { LayoutClient } from "../src/layout/client.js";

/** A stand-in Worker whose replies the test scripts: behave(dot) -> {svg} | {error} | "crash" | "hang". */
function fakeWorkers(behave) {
  const made = [];
  const spawn = () => {
    const worker = {
      terminated: false,
      onmessage: null,
      onerror: null,
      postMessage({ id, dot }) {
        const outcome = behave(dot, made.length);
        if (outcome === "hang") return;
        setTimeout(() => {
          if (worker.terminated) return;
          if (outcome === "crash") worker.onerror({ message: "Maximum call stack size exceeded" });
          else worker.onmessage({ data: { id, ...outcome } });
        }, 0);
      },
      terminate() {
        worker.terminated = true;
      },
    };
    made.push(worker);
    return worker;
  };
  return { spawn, made };
}

describe("LayoutClient", () => {
  it("returns the worker's SVG, one request at a time, in order", async () => {
    const { spawn, made } = fakeWorkers((dot) => ({ svg: `<svg>${dot}</svg>` }));
    const client = new LayoutClient(spawn);
    const results = await Promise.all([client.layout("a"), client.layout("b")]);
    expect(results).toEqual(["<svg>a</svg>", "<svg>b</svg>"]);
    expect(made).toHaveLength(1);
  });

  it("passes on Graphviz's error", async () => {
    const { spawn } = fakeWorkers(() => ({ error: "syntax error in line 1" }));
    await expect(new LayoutClient(spawn).layout("x")).rejects.toThrow("syntax error in line 1");
  });

  it("replaces a crashed worker and retries once", async () => {
    const { spawn, made } = fakeWorkers((dot, n) => (n === 1 ? "crash" : { svg: "<svg/>" }));
    await expect(new LayoutClient(spawn).layout("a")).resolves.toBe("<svg/>");
    expect(made).toHaveLength(2);
    expect(made[0].terminated).toBe(true);
  });

  it("gives up after a second crash", async () => {
    const { spawn } = fakeWorkers(() => "crash");
    await expect(new LayoutClient(spawn).layout("a")).rejects.toThrow(/Maximum call stack/);
  });

  it("stops a layout that takes too long and serves the next request in a new worker", async () => {
    vi.useFakeTimers();
    try {
      const { spawn, made } = fakeWorkers((dot) => (dot === "slow" ? "hang" : { svg: "<svg/>" }));
      const client = new LayoutClient(spawn, 1000);
      const slow = client.layout("slow");
      const next = client.layout("fast");
      const slowResult = expect(slow).rejects.toThrow(/longer than 1 s/);
      await vi.advanceTimersByTimeAsync(1001);
      await slowResult;
      await vi.advanceTimersByTimeAsync(1);
      await expect(next).resolves.toBe("<svg/>");
      expect(made[0].terminated).toBe(true);
      expect(made).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("reports a worker that cannot start", async () => {
    const client = new LayoutClient(() => {
      throw new Error("blocked by CSP");
    });
    await expect(client.layout("a")).rejects.toThrow(/Could not start the layout worker: blocked by CSP/);
  });
});
