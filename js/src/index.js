// anywidget entry of gradviz's graph widget (Python side: gradviz/view/_widget.py).
// The standalone HTML export (gradviz/view/_html.py) calls the same render() with a small
// in-page model object.
import workerSource from "gradviz:layout-worker";
import { LayoutClient, blobWorkerFactory } from "./layout/client.js";
import css from "./style.css";
import { mountApp } from "./ui/app.js";
import { mountWatch } from "./watch/app.js";
import watchCss from "./watch/watch.css";

// One layout worker per page, shared by every widget this bundle renders.
let client = null;

/** @param {{model: any, el: HTMLElement}} props */
function render({ model, el }) {
  client ??= new LayoutClient(blobWorkerFactory(workerSource));
  client.warm();
  // A MonitorWidget (gradviz/view/_watch_widget.py) has a non-empty `timeline`: the watch view.
  const timeline = model.get("timeline");
  const watch = !!timeline && typeof timeline === "object" && Object.keys(timeline).length > 0;
  const style = document.createElement("style");
  style.textContent = watch ? css + watchCss : css;
  el.append(style);
  const cleanup = (watch ? mountWatch : mountApp)(el, model, client);
  return () => {
    cleanup();
    style.remove();
  };
}

export default { render };
