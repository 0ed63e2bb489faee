// The heatmap: parameters (rows, grouped by module) x recorded steps (columns), coloured by
// log10 gradient norm. Cells live in an offscreen image, one pixel per cell, painted once per
// new row and scaled onto the canvas (one drawImage per module), so thousands of steps x
// hundreds of parameters redraw in a few milliseconds. Labels are HTML (text nodes).
import { formatNumber } from "../format.js";
import { h } from "../ui/dom.js";
import { SPECIAL } from "./colors.js";
import { at, shortName, STATE } from "./data.js";
import { GUTTER, LABEL_ROW, displayRowAt, moduleBands, paintReduced, paintRows, rowAtX, rowLayout, topOfDisplayRow, xOfRow } from "./cells.js";
import { Tooltip } from "./tooltip.js";

const DRAG_THRESHOLD = 4; // px before a press becomes a range selection (zoom), not a click
const ZOOM_PER_PIXEL = 0.002;
const MIN_WINDOW = 4; // rows: zooming in stops here
const MODULE_CLIP = 16;

export class Heatmap {
  /**
   * @param {{select: (column: number, additive: boolean) => void, zoom: (window: import("./cells.js").RowWindow|null) => void}} actions
   */
  constructor(actions) {
    this.actions = actions;
    this.data = null;
    this.range = null;
    this.view = { window: { lo: 0, hi: 1 }, cursor: null, selected: null, compared: new Set() };
    this.layout = { rowH: 0, tops: [], height: 0 };
    this.pixels = new Uint8ClampedArray(0);
    this.capacity = 0; // rows the cell image can hold before it is reallocated
    this.labelsKey = "";
    this.press = null; // {x, lo, hi} while a press may become a range selection
    this.hover = null; // {row, column} under the pointer

    this.canvas = h("canvas", { class: "gv-hm-canvas", "aria-label": "Gradient norm heatmap: parameters by steps" });
    this.brush = h("div", { class: "gv-hm-brush", hidden: true });
    this.gutter = h("div", { class: "gv-hm-gutter", style: `width: ${GUTTER}px` });
    this.plot = h("div", { class: "gv-hm-plot" }, this.canvas, this.brush);
    this.empty = h("div", { class: "gv-hm-empty", hidden: true });
    this.el = h("div", { class: "gv-hm" }, h("div", { class: "gv-hm-scroll" }, h("div", { class: "gv-hm-inner" }, this.gutter, this.plot)), this.empty);
    this.tooltip = new Tooltip(this.el);
    this.offscreen = document.createElement("canvas");
    this.reduced = { canvas: document.createElement("canvas"), key: "" }; // the window at screen resolution
    this.version = 0; // bumped by every setData, part of the reduced image's key

    const on = (type, fn, opts) => this.canvas.addEventListener(type, fn, opts);
    on("pointermove", (e) => this.#onMove(e));
    on("pointerleave", () => this.#onLeave());
    on("pointerdown", (e) => this.#onDown(e));
    on("pointerup", (e) => this.#onUp(e));
    on("dblclick", () => this.actions.zoom(null));
    on("wheel", (e) => this.#onWheel(e), { passive: false });
    this.resize = typeof ResizeObserver === "function" ? new ResizeObserver(() => this.draw()) : null;
    this.resize?.observe(this.plot);
  }

  /**
   * New data. `appended`: only rows after the previous data's were added (same columns, same range),
   * so only they are painted; otherwise every cell is.
   */
  setData(data, range, appended) {
    this.version++;
    const from = appended && this.data ? this.data.rows : 0;
    this.data = data;
    this.range = range;
    if (data.rows > this.capacity || this.pixels.length !== this.capacity * data.params * 4) {
      this.capacity = Math.max(64, data.rows, 2 * this.capacity);
      this.pixels = new Uint8ClampedArray(this.capacity * data.params * 4);
      return this.#paint(0);
    }
    this.#paint(from);
  }

  /** @param {{window: import("./cells.js").RowWindow, cursor: number|null, selected: number|null, compared: Set<number>}} view */
  render(view) {
    this.view = view;
    this.#labels();
    this.draw();
  }

  /** Redraw the canvas from the cell image and the view (cheap: call on every change). */
  draw() {
    const data = this.data;
    if (!data) return;
    const { window, cursor, selected, compared } = this.view;
    this.canvas.dataset.lo = String(window.lo);
    this.canvas.dataset.hi = String(window.hi);
    this.empty.hidden = data.rows > 0 && data.params > 0;
    this.empty.textContent = data.params ? "No step recorded yet." : "No parameter is watched.";
    const width = this.plot.clientWidth || 600;
    const height = this.layout.height;
    const dpr = globalThis.devicePixelRatio || 1;
    this.canvas.style.height = `${height}px`;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    const ctx = this.canvas.getContext?.("2d");
    if (!ctx || !data.rows || !data.params) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.imageSmoothingEnabled = false;
    const { rowH, tops } = this.layout;
    const cols = Math.round(width * dpr);
    const [source, x0, span] = window.hi - window.lo > cols ? [this.#reducedImage(cols), 0, cols] : [this.offscreen, window.lo, window.hi - window.lo];
    data.groups.forEach((g, k) => {
      ctx.drawImage(source, x0, g.start, span, g.count, 0, tops[k], width, g.count * rowH);
    });
    const rowBox = (column) => [topOfDisplayRow(this.layout, data.groups, data.displayOf[column]), rowH];
    for (const column of compared) if (column !== selected) outline(ctx, 0, ...rowBox(column), width, "#546e7a", 1);
    if (selected !== null) outline(ctx, 0, ...rowBox(selected), width, "#ffb300", 2);
    const first = data.firstNonfinite;
    if (first && first.row >= window.lo && first.row < window.hi) {
      vline(ctx, xOfRow(first.row, width, window), height, SPECIAL.nonfinite, [4, 3]);
    }
    if (cursor !== null && cursor >= window.lo && cursor < window.hi) vline(ctx, xOfRow(cursor, width, window), height, "#263238");
    if (this.hover) {
      const x0 = ((this.hover.row - window.lo) / (window.hi - window.lo)) * width;
      const [y0] = rowBox(this.hover.column);
      outline(ctx, x0, y0, rowH, Math.max(2, width / (window.hi - window.lo)), "#000000", 1);
    }
  }

  destroy() {
    this.resize?.disconnect();
  }

  /** More rows than pixels: each pixel column shows the most telling of its rows (cells.js). */
  #reducedImage(cols) {
    const { window } = this.view;
    const key = `${this.version} ${window.lo} ${window.hi} ${cols}`;
    const { canvas } = this.reduced;
    if (this.reduced.key === key) return canvas;
    const pixels = new Uint8ClampedArray(cols * this.data.params * 4);
    paintReduced(pixels, cols, this.data, this.range, window);
    canvas.width = cols;
    canvas.height = this.data.params;
    canvas.getContext("2d").putImageData(new ImageData(pixels, cols, this.data.params), 0, 0);
    this.reduced.key = key;
    return canvas;
  }

  /** Paint cells of rows [from, rows) into the image and upload just those columns. */
  #paint(from) {
    const data = this.data;
    paintRows(this.pixels, this.capacity, data, this.range, from, data.rows);
    this.canvas.dataset.painted = `${from}-${data.rows}`; // rows painted last (tests, benchmarks)
    if (!data.params || data.rows <= from) return;
    const ctx = this.offscreen.getContext?.("2d");
    if (!ctx) return;
    if (this.offscreen.width !== this.capacity || this.offscreen.height !== data.params) {
      this.offscreen.width = this.capacity;
      this.offscreen.height = data.params;
      from = 0;
    }
    const image = new ImageData(this.pixels, this.capacity, data.params);
    ctx.putImageData(image, 0, 0, from, 0, data.rows - from, data.params);
  }

  /** The label column: module bands and parameter rows, rebuilt only when names or sizes change. */
  #labels() {
    const data = this.data;
    this.layout = rowLayout(data.groups, data.params);
    const { rowH } = this.layout;
    const key = `${rowH}\u0000${data.names.join("\u0000")}`;
    if (key !== this.labelsKey) {
      this.labelsKey = key;
      this.gutter.classList.toggle("gv-hm-small", rowH < LABEL_ROW);
      this.gutter.style.height = `${this.layout.height}px`;
      const place = (top, height) => `top: ${top}px; height: ${height}px; line-height: ${Math.min(height, rowH < LABEL_ROW ? 14 : rowH)}px`;
      this.gutter.replaceChildren(
        ...moduleBands(data.groups, this.layout).map((band) =>
          h("div", { class: "gv-hm-module", style: place(band.top, band.height), title: band.title }, clipStart(band.text, MODULE_CLIP)),
        ),
        ...data.order.map((c, display) =>
          h(
            "button",
            {
              type: "button",
              class: "gv-hm-label",
              style: place(topOfDisplayRow(this.layout, data.groups, display), rowH),
              title: data.names[c],
              "data-column": c,
              onclick: (e) => this.actions.select(c, additive(e)),
            },
            shortName(data.names[c], data.modules[c]),
          ),
        ),
      );
    }
    const { selected, compared } = this.view;
    for (const b of this.gutter.querySelectorAll(".gv-hm-label")) {
      const c = Number(b.dataset.column);
      b.classList.toggle("gv-selected", c === selected);
      b.classList.toggle("gv-compared", c !== selected && compared.has(c));
    }
  }

  #cellAt(e) {
    const data = this.data;
    if (!data?.rows) return null;
    const box = this.canvas.getBoundingClientRect();
    const display = displayRowAt(this.layout, data.groups, e.clientY - box.top);
    if (display === null) return null;
    return { row: rowAtX(e.clientX - box.left, box.width || 1, this.view.window), column: data.order[display] };
  }

  #onMove(e) {
    if (this.press) {
      const dx = e.clientX - this.press.x;
      if (Math.abs(dx) >= DRAG_THRESHOLD) this.press.moved = true;
      if (this.press.moved) return this.#showBrush(e.clientX);
    }
    const cell = this.#cellAt(e);
    this.hover = cell;
    this.draw();
    if (!cell) return this.tooltip.hide();
    this.tooltip.show(e.clientX, e.clientY, describeCell(this.data, cell.row, cell.column));
  }

  #onLeave() {
    this.hover = null;
    this.tooltip.hide();
    this.draw();
  }

  #onDown(e) {
    if (e.button !== 0 || !this.data?.rows) return;
    this.press = { x: e.clientX, moved: false };
    this.canvas.setPointerCapture?.(e.pointerId);
  }

  #onUp(e) {
    const press = this.press;
    this.press = null;
    this.brush.hidden = true;
    if (!press) return;
    if (!press.moved) {
      const cell = this.#cellAt(e);
      if (cell) this.actions.select(cell.column, additive(e));
      return;
    }
    const box = this.canvas.getBoundingClientRect();
    const [a, b] = [press.x, e.clientX].map((x) => rowAtX(x - box.left, box.width || 1, this.view.window));
    this.actions.zoom({ lo: Math.min(a, b), hi: Math.max(a, b) + 1 });
  }

  #showBrush(x) {
    const box = this.canvas.getBoundingClientRect();
    const [a, b] = [this.press.x, x].map((v) => Math.max(0, Math.min(box.width, v - box.left))).sort((p, q) => p - q);
    Object.assign(this.brush.style, { left: `${a}px`, width: `${b - a}px`, height: `${this.layout.height}px` });
    this.brush.hidden = false;
    this.tooltip.hide();
  }

  /** Ctrl/Cmd + wheel (or a pinch) zooms the step axis around the pointer; Shift + wheel pans it. */
  #onWheel(e) {
    const rows = this.data?.rows ?? 0;
    const sideways = e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY);
    if (!rows || (!e.ctrlKey && !e.metaKey && !sideways)) return; // a plain wheel scrolls the page
    e.preventDefault();
    const box = this.canvas.getBoundingClientRect();
    const { lo, hi } = this.view.window;
    const span = hi - lo;
    if (sideways) {
      const shift = Math.round(((e.deltaX || e.deltaY) / (box.width || 1)) * span);
      const start = Math.max(0, Math.min(rows - span, lo + shift));
      return this.actions.zoom({ lo: start, hi: start + span });
    }
    const next = Math.max(Math.min(MIN_WINDOW, rows), Math.min(rows, Math.round(span * Math.exp(e.deltaY * ZOOM_PER_PIXEL))));
    const anchor = lo + ((e.clientX - box.left) / (box.width || 1)) * span;
    const start = Math.max(0, Math.min(rows - next, Math.round(anchor - ((anchor - lo) / span) * next)));
    this.actions.zoom(next >= rows ? null : { lo: start, hi: start + next });
  }
}

/** Tooltip lines of one cell: step, name, grad norm (or what stands instead), update ratio. */
export function describeCell(data, row, column) {
  const state = at(data, "state", row, column);
  const grad = at(data, "grad", row, column);
  const ratio = at(data, "ratio", row, column);
  const weight = at(data, "weight", row, column);
  return [
    `step ${data.steps[row]}`,
    data.names[column],
    ["grad norm", gradText(state, grad)],
    ["update ratio", Number.isNaN(ratio) ? "– (not measured at this step)" : formatNumber(ratio)],
    ...(Number.isNaN(weight) ? [] : [["weight norm", formatNumber(weight)]]),
  ];
}

/** The grad norm of a cell as text: its value, or why there is none. */
export function gradText(state, grad) {
  if (state === STATE.none) return "None (no gradient)";
  if (state === STATE.zero) return "0 (exactly zero)";
  if (state === STATE.nonfinite) return `${formatNumber(grad)} (non-finite gradient)`;
  return formatNumber(grad);
}

const additive = (e) => e.shiftKey || e.ctrlKey || e.metaKey;

/** "…layers.11.attn": the end of a long module path, which tells modules apart. */
const clipStart = (text, max) => (text.length <= max ? text : `…${text.slice(text.length - max + 1)}`);

function outline(ctx, x, y, height, width, color, lineWidth) {
  ctx.strokeStyle = color;
  ctx.lineWidth = lineWidth;
  ctx.setLineDash([]);
  ctx.strokeRect(x + lineWidth / 2, y + lineWidth / 2, width - lineWidth, height - lineWidth);
}

function vline(ctx, x, height, color, dash = []) {
  ctx.lineWidth = 3;
  ctx.strokeStyle = "#ffffff";
  ctx.setLineDash([]);
  ctx.beginPath();
  ctx.moveTo(x, 0);
  ctx.lineTo(x, height);
  ctx.stroke();
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = color;
  ctx.setLineDash(dash);
  ctx.stroke();
}
