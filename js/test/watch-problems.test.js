// The watch banner's lines (problems.js): what happened, to whom and when, for every kind of
// problem; and the exploding rule the banner shares with the charts' ▲ marks (flags.js).
import { describe, expect, it } from "vitest";
import { readWatch } from "../src/watch/data.js";
import { ExplosionTracker, explosions, flagsOf } from "../src/watch/flags.js";
import { problems } from "../src/watch/problems.js";
import { STATES, fakeModel, watchTraits } from "./watch-helpers.js";

const read = (options) => readWatch(fakeModel(watchTraits(options)));
const THRESHOLDS = { vanish: 1e-7, explode: 10 };
/** {kind: text} of the banner of `options` */
const banner = (options) => Object.fromEntries(problems(read(options), THRESHOLDS).map((p) => [p.kind, p.text]));
/** cells {"r,c": [state, norm]} setting `state` for columns `columns` from row `from` on */
function from(row, columns, rows, state = STATES.NONFINITE, norm = NaN) {
  const cells = {};
  for (let r = row; r < rows; r++) for (const c of columns) cells[`${r},${c}`] = [state, norm];
  return cells;
}

describe("the banner says what happened", () => {
  it("all at once, or one first and the others after it", () => {
    const names = ["wte.weight", "h.0.w", "h.1.w", "head.w"];
    expect(banner({ names, rows: 8, cells: from(5, [0, 1, 2, 3], 8) }).nonfinite).toBe("At step 5, all 4 parameters went NaN/Inf at once.");
    const cells = { ...from(5, [0], 8), ...from(6, [1, 2, 3], 8) };
    expect(banner({ names, rows: 8, cells }).nonfinite).toBe("wte.weight went NaN/Inf first, at step 5; 3 others followed at step 6: h.0.w, h.1.w and head.w.");
    const spread = { ...from(5, [0], 8), ...from(6, [1], 8), ...from(7, [2], 8) };
    expect(banner({ names, rows: 8, cells: spread }).nonfinite).toBe("wte.weight went NaN/Inf first, at step 5; 2 others followed from step 6 to step 7: h.0.w and h.1.w (3 of 4 parameters).");
    expect(banner({ names, rows: 8, cells: from(5, [2], 8) }).nonfinite).toBe("h.1.w went NaN/Inf at step 5.");
  });

  it("says 'by step' when the steps before were not recorded, and counts frozen parameters apart", () => {
    const names = ["a", "b", "frozen"];
    const cells = { ...from(2, [0, 1], 4), ...from(0, [2], 4, STATES.NONE) };
    const text = banner({ names, rows: 4, steps: [0, 10, 20, 30], cells, timeline: { frozen: [false, false, true] } }).nonfinite;
    expect(text).toBe("By step 20, all 2 unfrozen parameters went NaN/Inf at once.");
  });

  it("gives zero, missing, never and vanishing gradients their own lines", () => {
    const names = ["a", "b", "c", "d", "e"];
    const cells = { ...from(3, [0], 6, STATES.ZERO, 0), ...from(2, [1], 6, STATES.NONE), ...from(0, [2], 6, STATES.NONE), ...from(0, [3], 6, STATES.FINITE, 1e-9) };
    const lines = banner({ names, rows: 6, cells });
    expect(lines).toEqual({
      zero: "a got an exactly zero gradient at step 3.",
      never: "c never got a gradient: .grad stayed None at every recorded step.",
      none: "b lost its gradient (.grad None) at step 2.",
      vanishing: "At the first recorded step (0), d already vanishes.",
    });
    expect(problems(read({ names, rows: 6, cells }), THRESHOLDS).map((p) => p.kind)).toEqual(["zero", "never", "none", "vanishing"]); // worst first
  });

  it("tells a parameter the optimizer does not hold from one its steps leave unchanged", () => {
    const names = ["body.w", "body.b", "head.w"];
    const traits = watchTraits({ names, rows: 4, timeline: { moves: [false, false, true] } });
    const ratio = new Float32Array(traits.update_ratio.buffer);
    for (const row of [0, 2]) [ratio[row * 3], ratio[row * 3 + 1]] = [NaN, 0]; // body.w not held; body.b held, unchanged
    const [line] = problems(readWatch(fakeModel(traits)), THRESHOLDS);
    expect(line.kind).toBe("unchanged");
    expect(line.text).toBe(
      "body.w gets gradients, but the optimizer does not hold it: its weights never change. body.b gets gradients, but the optimizer's steps left its weights exactly as they were at all 2 steps where the weights were measured (a learning rate of 0, or updates too small to change a float32 weight).",
    );
  });

  it("lists the parameters first affected first, and the row to show", () => {
    const names = ["a", "b", "c"];
    const [line] = problems(read({ names, rows: 6, cells: { ...from(4, [0], 6), ...from(2, [2], 6) } }), THRESHOLDS);
    expect([line.columns, line.row]).toEqual([[2, 0], 2]);
  });

  it("says nothing when every parameter learns at every step", () => {
    expect(problems(read({ rows: 20 }), THRESHOLDS)).toEqual([]);
  });
});

describe("exploding gradients", () => {
  it("are the charts' ▲ flags, for every column", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const names = Array.from({ length: 6 }, (_, c) => `p${c}`);
    const cells = {};
    for (let r = 0; r < 300; r++) {
      for (let c = 0; c < names.length; c++) {
        const u = random();
        if (u < 0.03) cells[`${r},${c}`] = [STATES.NONFINITE, NaN];
        else if (u < 0.05) cells[`${r},${c}`] = [STATES.ZERO, 0];
        else cells[`${r},${c}`] = [STATES.FINITE, 10 ** (c === 0 ? 0.5 * random() : 4 * random() - 2) * (u > 0.98 && c > 0 ? 1e3 : 1)];
      }
    }
    const data = read({ names, rows: 300, cells });
    const { first } = explosions(data, 10);
    names.forEach((_, c) => {
      const flags = flagsOf(data, c, THRESHOLDS).filter((f) => f.kind === "explode");
      expect(first[c]).toBe(flags[0]?.row ?? -1);
    });
    expect(first[0]).toBe(-1); // a steady column never explodes
    expect(first.some((row) => row >= 0)).toBe(true);
    // kept up to date row by row (a live run), the same as computed once over every row
    const tracker = new ExplosionTracker();
    const partial = (upTo) => ({ ...data, rows: upTo });
    let kept = 0;
    for (const upTo of [3, 40, 41, 150, 300]) {
      tracker.update(partial(upTo), 10, kept);
      kept = upTo;
    }
    const live = tracker.update(data, 10, 300);
    expect(Array.from(live.first)).toEqual(Array.from(first));
    // rows that changed (a downsampled history): it starts over
    const again = tracker.update(partial(100), 10, 0);
    expect(Array.from(again.first)).toEqual(Array.from(explosions(partial(100), 10).first));
  });
});
