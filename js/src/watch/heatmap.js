// The heatmap: parameters (rows, grouped by module in collapsible bands) x recorded steps
// (columns), coloured by log10 gradient norm. Cells live in an offscreen image, one pixel per
// cell, painted once per new row and scaled onto the canvas, so thousands of steps x hundreds
// of parameters redraw in a few milliseconds. Labels are HTML (text nodes), full names.
import { h } from "../ui/dom.js";
import { GAP, GUTTER, lineAt, paintReduced, paintRows, rowAtX, rowHeight, xOfRow } from "./cells.js";
import { CHAR_PX, INDENT, clipStart, gutterWidth, measurer } from "./gutter.js";
import { SPECIAL } from "./colors.js";
import { describeLine } from "./cell-text.js";
import { cellGrid } from "./grid.js";
import { bandsAbove, displayLines, initialExpanded, placeLines } from "./rows.js";
import { Tooltip } from "./tooltip.js";

const DRAG_THRESHOLD = 4; // px before a press becomes a range selection (zoom), not a click
const ZOOM_PER_PIXEL = 0.002;
const MIN_WINDOW = 4; // rows: zooming in stops here
const FIRST_VIEW_LINES = 40; // bands open level by level while the rows stay within this

/** @typedef {import("./data.js").WatchData} WatchData */
/** @typedef {import("./cells.js").RowWindow} RowWindow */
/** @typedef {import("./rows.js").Line} Line */
/**
 * What the heatmap shows of the data: the rows, the step cursor, the selected and compared columns.
 * @typedef {{columns: Set<number>, color: string}} Marked   rows a banner line points at, and its colour
 * @typedef {{window: RowWindow, cursor: number|null, selected: number|null, compared: Set<number>, marked?: Marked|null}} HeatmapView
 */

export class Heatmap {
  /**
   * @param {{select: (column: number, additive: boolean) => void,
   *          zoom: (window: import("./cells.js").RowWindow|null) => void}} actions
   */
  constructor(actions) {
    this.actions = actions;
    /** @type {WatchData|null} */
    this.data = null;
    /** @type {{min: number, max: number}|null} */
    this.range = null;
    /** @type {HeatmapView} */
    this.view = { window: { lo: 0, hi: 1 }, cursor: null, selected: null, compared: new Set() };
    /** @type {Set<string>} band paths shown open (browser-only state) */
    this.expanded = new Set();
    this.treeKey = ""; // names the expanded set belongs to
    this.gutterPx = GUTTER; // the label column, sized to the names (gutter.js)
    /** @type {import("./gutter.js").Measure} */
    this.measure = (text) => text.length * CHAR_PX;
    /** @type {Line[]} */
    this.lines = [];
    this.rowH = 0;
    this.height = 0;
    /** @type {import("./grid.js").Grid|null} cells of parameters and bands */
    this.grid = null;
    this.imageKey = ""; // the lines the images were painted for
    /** @type {number[]} grid column of each image row (one per drawn line) */
    this.imageColumns = [];
    this.pixels = new Uint8ClampedArray(0);
    this.capacity = 0; // rows the cell image can hold before it is reallocated
    this.dirty = 0; // rows from here on are not painted into the full-resolution image yet
    this.labelsKey = "";
    this.markKey = ""; // the marks the labels show (a banner's "Show it")
    /** @type {{x: number, moved: boolean}|null} while a press may become a range selection */
    this.press = null;
    /** @type {{row: number, line: number}|null} the cell under the pointer */
    this.hover = null;

    this.canvas = h("canvas", { class: "gv-hm-canvas", "aria-label": "Gradient norm heatmap: parameters by steps" });
    this.brush = h("div", { class: "gv-hm-brush", hidden: true });
    this.gutter = h("div", { class: "gv-hm-gutter", style: `width: ${GUTTER}px` });
    this.plot = h("div", { class: "gv-hm-plot" }, this.canvas, this.brush);
    this.empty = h("div", { class: "gv-hm-empty", hidden: true });
    this.scroll = h("div", { class: "gv-hm-scroll" }, h("div", { class: "gv-hm-inner" }, this.gutter, this.plot));
    this.el = h("div", { class: "gv-hm" }, this.scroll, this.empty);
    this.tooltip = new Tooltip(this.el);
    this.offscreen = document.createElement("canvas");
    this.reduced = { canvas: document.createElement("canvas"), key: "" }; // the window at screen resolution
    this.version = 0; // bumped by every setData, part of the reduced image's key

    /**
     * @template {keyof HTMLElementEventMap} K
     * @param {K} type
     * @param {(e: HTMLElementEventMap[K]) => void} fn
     * @param {AddEventListenerOptions} [opts]
     */
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
   * New data. `kept`: rows at the start that are unchanged since the previous data (0: none, the
   * history was thinned out or its columns changed). Only the rows after them are computed, and, if
   * the colour scale is the same, painted.
   * @param {WatchData} data
   * @param {{min: number, max: number}|null} range
   * @param {number} kept
   */
  setData(data, range, kept) {
    this.version++;
    const sameScale = range?.min === this.range?.min && range?.max === this.range?.max;
    const from = kept && this.data && sameScale ? kept : 0;
    this.data = data;
    this.range = range;
    const key = data.names.join("\u0000");
    if (key !== this.treeKey) {
      this.treeKey = key;
      this.expanded = initialExpanded(data.tree, FIRST_VIEW_LINES);
      this.measure = measurer(this.gutter);
      this.gutterPx = gutterWidth(data, this.measure);
      this.gutter.style.width = `${this.gutterPx}px`;
      this.labelsKey = ""; // the labels are clipped to the new width
    }
    this.grid = cellGrid(data, this.grid, kept);
    this.dirty = Math.min(this.dirty, from);
  }

  /** @param {HeatmapView} view */
  render(view) {
    this.view = view;
    this.#layout();
    this.draw();
  }

  /**
   * Open or close band `path`.
   * @param {string} path
   */
  toggle(path) {
    if (this.expanded.has(path)) this.expanded.delete(path);
    else this.expanded.add(path);
    this.render(this.view);
  }

  /**
   * Open the bands above `column` and scroll its row into view.
   * @param {number} column
   */
  reveal(column) {
    if (!this.data) return;
    const before = this.expanded.size;
    for (const path of bandsAbove(this.data.tree, column)) this.expanded.add(path);
    if (this.expanded.size !== before) this.render(this.view);
    const line = this.lines.find((l) => l.kind === "param" && l.column === column);
    if (!line) return;
    const top = line.top;
    const box = this.scroll;
    if (top < box.scrollTop || top + this.rowH > box.scrollTop + box.clientHeight) box.scrollTop = Math.max(0, top - box.clientHeight / 2);
  }

  /** Pixels right of the plot (the scroll bar), so the charts below can line up their x axis. */
  rightInset() {
    return this.scroll.offsetWidth - this.scroll.clientWidth;
  }

  /** Redraw the canvas from the cell image and the view (cheap: call on every change). */
  draw() {
    const { data, grid } = this;
    if (!data || !grid) return;
    const { window, cursor, selected, compared } = this.view;
    this.canvas.dataset.lo = String(window.lo);
    this.canvas.dataset.hi = String(window.hi);
    this.empty.hidden = data.rows > 0 && data.params > 0;
    this.empty.textContent = data.params ? "No step recorded yet." : "No parameter is watched.";
    const width = this.plot.clientWidth || 600;
    const height = this.height;
    const dpr = globalThis.devicePixelRatio || 1;
    this.canvas.style.height = `${height}px`;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    if (!data.rows || !data.params) return;
    const cols = Math.round(width * dpr);
    const reduced = window.hi - window.lo > cols;
    if (!reduced) this.#paint(data, grid); // the full-resolution image is painted only when it is shown
    const ctx = this.canvas.getContext?.("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.imageSmoothingEnabled = false;
    const rowH = this.rowH;
    const [source, x0, span] = reduced ? [this.#reducedImage(grid, cols), 0, cols] : [this.offscreen, window.lo, window.hi - window.lo];
    for (const run of runsOf(this.lines)) {
      ctx.drawImage(source, x0, run.first, span, run.count, 0, run.top, width, run.count * rowH);
    }
    const ink = themeColors(this.el);
    /** @param {number} column  its own row, or the closed band it is in */
    const lineOf = (column) =>
      this.lines.find((l) => l.kind === "param" && l.column === column) ??
      this.lines.find((l) => l.kind === "band" && !this.expanded.has(l.node.path) && l.node.columns.includes(column));
    const marked = this.view.marked;
    if (marked) {
      let count = 0;
      for (const line of this.lines) {
        if (!isMarked(line, marked.columns, this.expanded)) continue;
        outline(ctx, 0, line.top, rowH, width, marked.color, 2);
        count++;
      }
      this.canvas.dataset.marked = String(count);
    } else {
      if (this.canvas.dataset.marked !== undefined) delete this.canvas.dataset.marked;
    }
    for (const column of compared) {
      const line = column !== selected && lineOf(column);
      if (line) outline(ctx, 0, line.top, rowH, width, ink.compare, 1);
    }
    const chosen = selected !== null && lineOf(selected);
    if (chosen) outline(ctx, 0, chosen.top, rowH, width, ink.select, 2);
    const first = data.firstNonfinite;
    if (first && first.row >= window.lo && first.row < window.hi) {
      vline(ctx, xOfRow(first.row, width, window), height, SPECIAL.nonfinite, ink.halo, [4, 3]);
    }
    if (cursor !== null && cursor >= window.lo && cursor < window.hi) vline(ctx, xOfRow(cursor, width, window), height, ink.cursor, ink.halo);
    const hover = this.hover;
    const hovered = hover && this.lines[hover.line];
    if (hover && hovered) {
      const hx = ((hover.row - window.lo) / (window.hi - window.lo)) * width;
      outline(ctx, hx, hovered.top, rowH, Math.max(2, width / (window.hi - window.lo)), ink.cursor, 1);
    }
  }

  destroy() {
    this.resize?.disconnect();
  }

  // Both images hold one pixel row per drawn line (this.lines), from the grid's columns: a closed
  // band costs one row, and the cells of hidden rows are never painted.

  /**
   * More rows than pixels: each pixel column shows the most telling of its rows (cells.js).
   * @param {import("./grid.js").Grid} grid
   * @param {number} cols
   */
  #reducedImage(grid, cols) {
    const { window } = this.view;
    const key = `${this.version} ${window.lo} ${window.hi} ${cols} ${this.imageKey}`;
    const { canvas } = this.reduced;
    if (this.reduced.key === key) return canvas;
    const n = this.imageColumns.length;
    const pixels = new Uint8ClampedArray(cols * n * 4);
    paintReduced(pixels, cols, grid, this.range, window, this.imageColumns);
    canvas.width = cols;
    canvas.height = n;
    canvas.getContext("2d")?.putImageData(new ImageData(pixels, cols, n), 0, 0);
    this.reduced.key = key;
    return canvas;
  }

  /**
   * Paint the rows not painted yet into the full-resolution image and upload just those columns.
   * @param {WatchData} data
   * @param {import("./grid.js").Grid} grid
   */
  #paint(data, grid) {
    const n = this.imageColumns.length;
    if (data.rows > this.capacity || this.pixels.length !== this.capacity * n * 4) {
      this.capacity = Math.max(64, data.rows, 2 * this.capacity);
      this.pixels = new Uint8ClampedArray(this.capacity * n * 4);
      this.dirty = 0;
    }
    let from = this.dirty;
    if (from >= data.rows) return;
    paintRows(this.pixels, this.capacity, grid, this.range, from, data.rows, this.imageColumns);
    this.dirty = data.rows;
    this.canvas.dataset.painted = `${from}-${data.rows}`; // rows painted last (tests, benchmarks)
    if (!n) return;
    const ctx = this.offscreen.getContext?.("2d");
    if (!ctx) return;
    if (this.offscreen.width !== this.capacity || this.offscreen.height !== n) {
      this.offscreen.width = this.capacity;
      this.offscreen.height = n;
      from = 0;
    }
    const image = new ImageData(this.pixels, this.capacity, n);
    ctx.putImageData(image, 0, 0, from, 0, data.rows - from, n);
  }

  /** Lines, geometry and the label column (rebuilt only when names, bands or sizes change). */
  #layout() {
    const { data, grid } = this;
    if (!data || !grid) return;
    this.lines = displayLines(data.tree, this.expanded);
    const imageKey = this.lines.map((l) => l.source).join();
    if (imageKey !== this.imageKey) {
      this.imageKey = imageKey;
      this.imageColumns = this.lines.map((l) => grid.sources[l.source]);
      this.dirty = 0; // other lines: the full-resolution image is painted again
    }
    this.rowH = rowHeight(this.lines.length, this.lines.filter((l) => l.gap).length);
    this.height = placeLines(this.lines, this.rowH, GAP);
    this.canvas.dataset.lines = String(this.lines.length);
    const key = `${this.rowH}\u0000${[...this.expanded].join("\u0001")}\u0000${this.treeKey}`;
    if (key !== this.labelsKey) {
      this.labelsKey = key;
      this.gutter.style.height = `${this.height}px`;
      this.gutter.replaceChildren(...this.lines.map((line) => this.#label(data, line)));
    }
    const { selected, compared, marked } = this.view;
    for (const b of this.gutter.querySelectorAll(".gv-hm-label")) {
      const c = Number(b.getAttribute("data-column"));
      b.classList.toggle("gv-selected", c === selected);
      b.classList.toggle("gv-compared", c !== selected && compared.has(c));
    }
    // the marks change only with a banner's "Show it", a click, or other labels: not at every step
    const markKey = marked ? `${this.labelsKey}\u0002${marked.color}\u0002${[...marked.columns].join()}` : "";
    if (markKey === this.markKey) return;
    this.markKey = markKey;
    for (const b of this.gutter.querySelectorAll(".gv-hm-label")) b.classList.toggle("gv-marked", !!marked?.columns.has(Number(b.getAttribute("data-column"))));
    for (const b of this.gutter.querySelectorAll(".gv-hm-band")) {
      const band = this.data?.tree.bands.find((n) => n.path === b.getAttribute("data-band"));
      b.classList.toggle("gv-marked", !!marked && !!band && !this.expanded.has(band.path) && band.columns.some((c) => marked.columns.has(c)));
    }
    this.gutter.style.setProperty("--gv-mark", marked?.color ?? "");
  }

  /**
   * @param {WatchData} data
   * @param {Line} line
   */
  #label(data, line) {
    const indent = 6 + line.depth * INDENT;
    const style = `top: ${line.top}px; height: ${this.rowH}px; line-height: ${this.rowH}px; padding-left: ${indent}px`;
    const room = Math.max(8, Math.floor((this.gutterPx - indent - 14) / CHAR_PX));
    /** The label as drawn fits the column, as measured (else it is clipped by the average width). @param {string} drawn @param {boolean} band */
    const fits = (drawn, band) => indent + (band ? 12 : 0) + this.measure(drawn, band) + 14 <= this.gutterPx;
    if (line.kind === "band") {
      const { path, columns } = line.node;
      const open = this.expanded.has(path);
      return h(
        "button",
        { type: "button", class: "gv-hm-band", style, title: `${path}: ${columns.length} parameters`, "data-band": path, "aria-expanded": String(open), onclick: () => this.toggle(path) },
        h("span", { class: "gv-hm-caret", "aria-hidden": "true" }, open ? "▾" : "▸"),
        fits(`${path} ${columns.length}`, true) ? path : clipStart(path, room - 6),
        h("span", { class: "gv-hm-count" }, ` ${columns.length}`),
      );
    }
    const name = data.names[line.column];
    const module = data.modules[line.column];
    const text = fits(name, false) ? name : clipStart(name, room);
    const own = module && name.startsWith(`${module}.`) ? name.slice(module.length + 1) : name; // "weight"
    const prefix = text.length > own.length && text.endsWith(own) ? text.slice(0, text.length - own.length) : "";
    return h(
      "button",
      { type: "button", class: "gv-hm-label", style, title: name, "data-column": line.column, onclick: (/** @type {MouseEvent} */ e) => this.actions.select(line.column, additive(e)) },
      prefix && h("span", { class: "gv-hm-prefix" }, prefix),
      prefix ? text.slice(prefix.length) : text,
    );
  }

  /**
   * The cell under the pointer: its row and the index of its line.
   * @param {MouseEvent} e
   * @returns {{row: number, line: number}|null}
   */
  #cellAt(e) {
    const data = this.data;
    if (!data?.rows) return null;
    const box = this.canvas.getBoundingClientRect();
    const line = lineAt(this.lines, this.rowH, e.clientY - box.top);
    if (line === null) return null;
    return { row: rowAtX(e.clientX - box.left, box.width || 1, this.view.window), line };
  }

  /** @param {PointerEvent} e */
  #onMove(e) {
    if (this.press) {
      const dx = e.clientX - this.press.x;
      if (Math.abs(dx) >= DRAG_THRESHOLD) this.press.moved = true;
      if (this.press.moved) return this.#showBrush(this.press, e.clientX);
    }
    const cell = this.#cellAt(e);
    this.hover = cell;
    this.draw();
    if (!cell || !this.data) return this.tooltip.hide();
    this.tooltip.show(e.clientX, e.clientY, describeLine(this.data, cell.row, this.lines[cell.line]));
  }

  #onLeave() {
    this.hover = null;
    this.tooltip.hide();
    this.draw();
  }

  /** @param {PointerEvent} e */
  #onDown(e) {
    if (e.button !== 0 || !this.data?.rows) return;
    this.press = { x: e.clientX, moved: false };
    this.canvas.setPointerCapture?.(e.pointerId);
  }

  /** @param {PointerEvent} e */
  #onUp(e) {
    const press = this.press;
    this.press = null;
    this.brush.hidden = true;
    if (!press) return;
    if (!press.moved) {
      const cell = this.#cellAt(e);
      const line = cell && this.lines[cell.line];
      if (line?.kind === "band") this.toggle(line.node.path);
      else if (line) this.actions.select(line.column, additive(e));
      return;
    }
    const box = this.canvas.getBoundingClientRect();
    const [a, b] = [press.x, e.clientX].map((x) => rowAtX(x - box.left, box.width || 1, this.view.window));
    this.actions.zoom({ lo: Math.min(a, b), hi: Math.max(a, b) + 1 });
  }

  /**
   * @param {{x: number}} press  where the press started
   * @param {number} x           where the pointer is
   */
  #showBrush(press, x) {
    const box = this.canvas.getBoundingClientRect();
    const [a, b] = [press.x, x].map((v) => Math.max(0, Math.min(box.width, v - box.left))).sort((p, q) => p - q);
    Object.assign(this.brush.style, { left: `${a}px`, width: `${b - a}px`, height: `${this.height}px` });
    this.brush.hidden = false;
    this.tooltip.hide();
  }

  /**
   * Ctrl/Cmd + wheel (or a pinch) zooms the step axis around the pointer; Shift + wheel pans it.
   * @param {WheelEvent} e
   */
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

/**
 * A line shows a marked parameter: its own row, or a closed band holding one.
 * @param {Line} line
 * @param {Set<number>} columns
 * @param {Set<string>} expanded
 */
function isMarked(line, columns, expanded) {
  if (line.kind === "param") return columns.has(line.column);
  return !expanded.has(line.node.path) && line.node.columns.some((c) => columns.has(c));
}

/**
 * Consecutive lines with no gap between them: one drawImage each.
 * @param {Line[]} lines
 */
function runsOf(lines) {
  /** @type {{first: number, top: number, count: number}[]} */
  const runs = [];
  lines.forEach((line, i) => {
    const last = runs[runs.length - 1];
    if (last && !line.gap) last.count++;
    else runs.push({ first: i, top: line.top, count: 1 });
  });
  return runs;
}

/** @param {MouseEvent} e */
const additive = (e) => e.shiftKey || e.ctrlKey || e.metaKey;


/**
 * Canvas colours from the theme (CSS variables of watch.css), read at each draw.
 * @param {Element} el
 */
function themeColors(el) {
  const css = globalThis.getComputedStyle?.(el);
  /** @param {string} name @param {string} fallback */
  const get = (name, fallback) => css?.getPropertyValue(name).trim() || fallback;
  return {
    cursor: get("--gv-wt-cursor", "#263238"),
    halo: get("--gv-wt-halo", "#ffffff"),
    select: get("--gv-wt-select", "#ffb300"),
    compare: get("--gv-wt-compare", "#546e7a"),
  };
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {number} x
 * @param {number} y
 * @param {number} height
 * @param {number} width
 * @param {string} color
 * @param {number} lineWidth
 */
function outline(ctx, x, y, height, width, color, lineWidth) {
  ctx.strokeStyle = color;
  ctx.lineWidth = lineWidth;
  ctx.setLineDash([]);
  ctx.strokeRect(x + lineWidth / 2, y + lineWidth / 2, width - lineWidth, height - lineWidth);
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {number} x
 * @param {number} height
 * @param {string} color
 * @param {string} halo
 * @param {number[]} [dash]
 */
function vline(ctx, x, height, color, halo, dash = []) {
  ctx.lineWidth = 3;
  ctx.strokeStyle = halo;
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
