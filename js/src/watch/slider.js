// The step slider: one position per recorded row; the right end is "latest" (step -1 in the
// `step` trait), which follows new rows while training runs. Arrow keys move one row.
import { h } from "../ui/dom.js";
import { GUTTER } from "./cells.js";

export class StepSlider {
  /** @param {(step: number) => void} onChange  row index, or -1 for the latest */
  constructor(onChange) {
    this.onChange = onChange;
    this.rows = 0;
    this.input = h("input", {
      type: "range",
      class: "gv-slider",
      min: 0,
      max: 0,
      step: 1,
      value: 0,
      "aria-label": "Step shown in the graph",
      oninput: () => this.onChange(this.#fromInput()),
    });
    this.label = h("span", { class: "gv-slider-label", "aria-live": "polite" });
    this.latest = h("button", { type: "button", class: "gv-button gv-latest", onclick: () => this.onChange(-1) }, "Latest");
    this.el = h(
      "div",
      { class: "gv-slider-row" },
      (this.gutter = h("div", { class: "gv-slider-gutter", style: `width: ${GUTTER}px` }, this.label, this.latest)),
      this.input,
    );
  }

  /**
   * The label column's width (px), the heatmap's.
   * @param {number} px
   */
  setGutter(px) {
    this.gutter.style.width = `${px}px`;
  }

  /**
   * @param {number} rows
   * @param {number} step     row index or -1 (latest)
   * @param {number|null} stepNumber  training step of that row (null: no row yet)
   */
  update(rows, step, stepNumber) {
    this.rows = rows;
    const row = step < 0 ? rows - 1 : Math.min(step, rows - 1);
    this.input.max = String(Math.max(0, rows - 1));
    this.input.value = String(Math.max(0, row));
    this.input.disabled = rows === 0;
    this.latest.disabled = rows === 0 || step < 0;
    this.latest.setAttribute("aria-pressed", String(step < 0));
    this.label.textContent = stepNumber === null ? "no step yet" : `step ${stepNumber}${step < 0 ? " (latest)" : ""}`;
  }

  /** The slider's position as a `step` value: its right end is "latest". */
  #fromInput() {
    const row = Number(this.input.value);
    return row >= this.rows - 1 ? -1 : row;
  }
}
