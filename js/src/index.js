// anywidget entry of gradviz's graph widget (Python side: gradviz/view/_widget.py) and of the
// watch widget (gradviz/view/_watch_widget.py). The standalone HTML export (gradviz/view/_html.py)
// calls the same render() with a small in-page model object.
import workerSource from "gradviz:layout-worker";
import { LayoutClient, blobWorkerFactory } from "./layout/client.js";
import css from "./style.css";
import { mountApp } from "./ui/app.js";
import { mountWatch } from "./watch/app.js";
import watchCss from "./watch/watch.css";

/** @typedef {import("./types.js").GraphTraits} GraphTraits */
/** @typedef {import("./types.js").WatchTraits} WatchTraits */

/**
 * The traits render() reads before it knows which widget it draws: those of GraphWidget, and the
 * `timeline` a MonitorWidget has (absent on a GraphWidget).
 * @typedef {GraphTraits & {timeline?: WatchTraits["timeline"]}} AnyTraits
 */

// One layout worker per page, shared by every widget this bundle renders.
/** @type {LayoutClient|null} */
let client = null;

/** @type {import("@anywidget/types").Render<AnyTraits>} */
function render({ model, el }) {
  client ??= new LayoutClient(blobWorkerFactory(workerSource));
  client.warm();
  // A MonitorWidget (gradviz/view/_watch_widget.py) has a non-empty `timeline`: the watch view.
  const timeline = model.get("timeline");
  const watch = !!timeline && typeof timeline === "object" && Object.keys(timeline).length > 0;
  const style = document.createElement("style");
  style.textContent = watch ? css + watchCss : css;
  el.append(style);
  // The `timeline` test above tells the widgets apart; TS cannot narrow a model by a trait's value.
  const cleanup = watch
    ? mountWatch(el, /** @type {import("./types.js").WatchModel} */ (model), client)
    : mountApp(el, model, client);
  return () => {
    cleanup();
    style.remove();
  };
}

/** @type {import("@anywidget/types").AnyWidget<AnyTraits>} */
export default { render };
