// anywidget entry of gradviz's graph widget (Python side: gradviz/view/_widget.py).
// The standalone HTML export (gradviz/view/_html.py) calls the same render() with a small
// in-page model object.
import workerSource from "gradviz:layout-worker";
import { LayoutClient, blobWorkerFactory } from "./layout/client.js";
import css from "./style.css";
import { mountApp } from "./ui/app.js";

// One layout worker per page, shared by every widget this bundle renders.
let client = null;

/** @param {{model: any, el: HTMLElement}} props */
function render({ model, el }) {
  client ??= new LayoutClient(blobWorkerFactory(workerSource));
  client.warm();
  const style = document.createElement("style");
  style.textContent = css;
  el.append(style);
  const cleanup = mountApp(el, model, client);
  return () => {
    cleanup();
    style.remove();
  };
}

export default { render };
export { render };
