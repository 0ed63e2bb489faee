import { describe, expect, it } from "vitest";
import { cutNodes, fillAcross, frameView, place1d, spanAcross } from "../src/layout/frame.js";

// A column of nodes 20 units tall every 40 units (the ranks of a tall drawing), 100 units wide.
const column = (n, x = 0, w = 100) => Array.from({ length: n }, (_, i) => ({ x, y: i * 40, w, h: 20 }));

describe("placing a view (NOTE [framing])", () => {
  it("centres a drawing that fits in one direction", () => {
    expect(place1d(0, 100, 300, 0, 10, [])).toBe(-100);
  });

  it("never shows past the drawing's edges when the drawing is larger", () => {
    // what must show is at the very right: the view ends at the drawing's edge, not centred on it
    expect(place1d(0, 1000, 300, 990, 10, [])).toBe(700);
    expect(place1d(0, 1000, 300, 0, 10, [])).toBe(0);
  });

  it("moves its edges into the gaps between nodes, keeping what must show", () => {
    const ranks = column(25).map((n) => [n.y, n.y + n.h]);
    const start = place1d(0, 1000, 310, 500, 10, ranks); // centred would start at 350: inside a node
    const view = { x: 0, y: start, w: 100, h: 310 };
    expect(cutNodes(view, column(25))).toEqual({ left: 0, top: 0, right: 0, bottom: 0 });
    expect(start).toBeLessThanOrEqual(500);
    expect(start + 310).toBeGreaterThanOrEqual(510);
  });

  it("starts at the drawing's top (the loss) when what must show is in the first three quarters from there", () => {
    const ranks = column(25).map((n) => [n.y, n.y + n.h]);
    // (the drawing starts 4 units above its top rank, Graphviz's margin)
    // centred on a node at 200..220, a 400-unit view would start at 10: the top rank (0..20) cut off
    expect(place1d(-4, 1004, 400, 200, 20, ranks)).toBe(-4);
    // a node at 320..340 is past three quarters of a view started at the top: it is centred instead
    expect(place1d(-4, 1004, 400, 320, 20, ranks)).toBeGreaterThan(100);
  });

  it("zooms out a little when the top is pinned and the bottom edge would cut a node", () => {
    const nodes = column(25);
    const bounds = { x: 0, y: 0, w: 100, h: 980 };
    const size = { width: 100, height: 330 }; // at scale 1 the view ends at 330: inside the node at 320..340
    const box = frameView({ bounds, size, must: { x: 50, y: 0, w: 0, h: 1 }, nodes, scale: 1, lo: 0.9 });
    expect(box.y).toBe(0);
    expect(cutNodes(box, nodes)).toEqual({ left: 0, top: 0, right: 0, bottom: 0 });
    expect(box.h).toBeGreaterThan(330);
  });

  it("never zooms out below the readable scale", () => {
    const nodes = column(25);
    const box = frameView({ bounds: { x: 0, y: 0, w: 100, h: 980 }, size: { width: 100, height: 330 }, must: { x: 50, y: 0, w: 0, h: 1 }, nodes, scale: 1, lo: 1 });
    expect(box.h).toBe(330);
  });
});

describe("filling the canvas across", () => {
  it("measures only the nodes at the view's height", () => {
    const nodes = [...column(10, 0, 100), { x: -500, y: 2000, w: 1200, h: 20 }]; // wide far below
    expect(spanAcross(nodes, 0, 400)).toEqual({ x: -8, w: 116 });
    expect(spanAcross(nodes, 5000, 6000)).toBeNull();
  });

  it("counts a module box whose whole height is in the band, not one that reaches beyond it", () => {
    const nodes = column(10, 0, 100);
    const inside = { x: -30, y: 30, w: 160, h: 100 }; // a box around two ranks
    const around = { x: -500, y: -10, w: 1100, h: 2000 }; // the model's box: far beyond the band
    expect(spanAcross(nodes, 0, 400, [inside, around])).toEqual({ x: -38, w: 176 });
  });

  it("zooms in, up to the top scale, until the part beside the problem fills the width", () => {
    const nodes = [...column(30, 0, 200), { x: -1000, y: 1190, w: 2400, h: 20 }];
    const bounds = { x: -1000, y: 0, w: 2400, h: 1210 };
    const must = { x: 0, y: 0, w: 200, h: 20 };
    const { scale, across } = fillAcross({ bounds, size: { width: 300, height: 400 }, must, nodes, base: 1, top: 1.25 });
    expect(scale).toBe(1.25); // 300 / 216 would be 1.39: capped
    expect(across).toEqual({ x: -8, w: 216 });
    const wide = fillAcross({ bounds, size: { width: 300, height: 400 }, must: { ...must, y: 1190 }, nodes, base: 1, top: 1.25 });
    expect(wide.scale).toBe(1); // the wide rank is in view: nothing to gain
  });

  it("takes the largest scale that fits, so a canvas narrowed to that part frames it the same", () => {
    // narrow ranks on top, a wide rank below: at scale 1 the band (500 units) reaches the wide rank, at
    // 1.25 (400 units) it does not. From the bottom up, 1 was already a fixed point on the narrowed canvas.
    const nodes = [...column(11, 0, 200), { x: -300, y: 440, w: 800, h: 20 }];
    const bounds = { x: -300, y: 0, w: 800, h: 460 };
    const must = { x: 0, y: 0, w: 200, h: 20 };
    const first = fillAcross({ bounds, size: { width: 600, height: 500 }, must, nodes, base: 1, top: 1.25 });
    expect(first.scale).toBe(1.25);
    const narrowed = { width: first.across.w * first.scale + 8, height: 500 };
    const again = fillAcross({ bounds, size: narrowed, must, nodes, base: 1, top: 1.25 });
    expect(again).toEqual(first);
  });
});
