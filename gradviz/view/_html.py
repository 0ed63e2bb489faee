"""Standalone HTML export: one file with the front-end bundle and the widget state inlined.

The page builds a small in-page model (get/set/on/off/save_changes) and calls the bundle's
anywidget ``render({model, el})``, so it is the same widget as in the notebook, clickable
without a kernel, from ``file://``, with no network. The bundle (with its Graphviz WASM) is stored
gzip-compressed and base64-encoded, and unpacked in the page by the browser's ``DecompressionStream``:
a page for a small graph is under 1 MB instead of 3. The state stays readable JSON. The page follows the
reader's light or dark preference (``prefers-color-scheme``) through the same theme variables
JupyterLab defines.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import html
import json
import os
import pathlib
import re

from gradviz.view._bundle import bundle_path
from gradviz.view._scale import check_scale

__all__ = ["default_path", "write_html", "write_page"]

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{title}</title>
<style>
  /* The theme variables JupyterLab defines (its Light and Dark themes), so the widget looks the same
     here; the dark set applies when the reader's system prefers dark. */
  :root {{
    --jp-layout-color0: #ffffff; --jp-layout-color1: #ffffff; --jp-layout-color2: #eeeeee;
    --jp-layout-color3: #bdbdbd; --jp-ui-font-color0: #000000; --jp-ui-font-color1: rgba(0, 0, 0, 0.87);
    --jp-ui-font-color2: rgba(0, 0, 0, 0.6); --jp-ui-font-color3: rgba(0, 0, 0, 0.38);
    --jp-border-color0: #bdbdbd; --jp-border-color1: #bdbdbd; --jp-border-color2: #e0e0e0;
    --jp-border-color3: #eeeeee; --jp-brand-color1: #1976d2; --jp-error-color0: #b71c1c;
    --jp-error-color1: #d32f2f; --jp-error-color2: #e57373; --jp-error-color3: #ffcdd2;
    --jp-warn-color2: #ffb74d; --jp-warn-color3: #ffe0b2; --jp-rendermime-error-background: #ffdddd;
    --jp-cell-editor-background: #f5f5f5;
  }}
  @media (prefers-color-scheme: dark) {{
    :root {{
      --jp-layout-color0: #111111; --jp-layout-color1: #212121; --jp-layout-color2: #424242;
      --jp-layout-color3: #616161; --jp-ui-font-color0: #ffffff;
      --jp-ui-font-color1: rgba(255, 255, 255, 0.87); --jp-ui-font-color2: rgba(255, 255, 255, 0.6);
      --jp-ui-font-color3: rgba(255, 255, 255, 0.38);
      --jp-border-color0: #616161; --jp-border-color1: #616161; --jp-border-color2: #424242;
      --jp-border-color3: #212121; --jp-brand-color1: #2196f3; --jp-error-color0: #d32f2f;
      --jp-error-color1: #f44336; --jp-error-color2: #e57373; --jp-error-color3: #ffcdd2;
      --jp-warn-color2: #ffb74d; --jp-warn-color3: rgba(255, 152, 0, 0.22);
      --jp-rendermime-error-background: rgba(244, 67, 54, 0.28); --jp-cell-editor-background: #111111;
    }}
  }}
  body {{ margin: 0; padding: 16px; background: var(--jp-layout-color0); color: var(--jp-ui-font-color1);
         font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }}
  .gradviz-page-error {{ color: var(--jp-error-color1); white-space: pre-wrap; }}
</style>
</head>
<body>
<main id="gradviz"></main>
<script type="application/json" id="gradviz-state">{state}</script>
<script type="module">
const packedBundle = "{bundle}"; // gzip, then base64
const root = document.getElementById("gradviz");
// JupyterLab marks a dark theme on <body>; do the same from the reader's preference.
const dark = matchMedia("(prefers-color-scheme: dark)");
const theme = () => (document.body.dataset.jpThemeLight = String(!dark.matches));
theme();
dark.addEventListener("change", theme);
try {{
  const raw = (b64) => {{
    const text = atob(b64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }};
  const gunzip = (b64) =>
    new Response(new Blob([raw(b64)]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
  const bundle = await gunzip(packedBundle);
  // Stand-in for the anywidget model: the values a kernel would sync, and their change events.
  // The state is parsed on first read, once render() has started the layout worker.
  // state = {{values: {{trait: JSON value}}, bytes: {{trait: base64}}}}.
  let state = null;
  const values = {{}};
  const listeners = new Map();
  const model = {{
    get(key) {{
      if (!(key in values)) {{
        state ??= JSON.parse(document.getElementById("gradviz-state").textContent);
        if (key in state.bytes) values[key] = new DataView(raw(state.bytes[key]).buffer);
        else if (key in state.values) values[key] = state.values[key];
      }}
      return values[key];
    }},
    set(key, value) {{
      values[key] = value;
      for (const fn of listeners.get(`change:${{key}}`) ?? []) fn();
    }},
    on(event, fn) {{
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(fn);
    }},
    off(event, fn) {{
      listeners.get(event)?.delete(fn);
    }},
    save_changes() {{}},
  }};
  root.gradvizModel = model; // what a kernel would drive; tests drive it the same way
  const url = URL.createObjectURL(new Blob([bundle], {{ type: "text/javascript" }}));
  const widget = (await import(url)).default;
  widget.render({{ model, el: root }});
}} catch (err) {{
  const message = document.createElement("pre");
  message.className = "gradviz-page-error";
  message.textContent = `gradviz could not draw this page: ${{err && err.stack || err}}`;
  root.append(message);
}}
</script>
</body>
</html>
"""


def _packed(data: bytes) -> str:
    """gzip + base64: text that can sit in a <script> string (no "<", quote or backslash at all)."""
    return base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")


def _script_safe_json(value: object) -> str:
    """JSON that can sit inside a <script> element: no "<" survives, so neither "</script"
    nor "<!--" can end or derail the element; "\\u003c" decodes back to "<"."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c")


def default_path(model_name: str, directory: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """``gradviz-<model>-<YYYYmmdd-HHMMSS>.html`` in the working directory (a ``-2``, ``-3``, ... suffix
    when that name is taken), for ``save_html()`` called with no path."""
    model = re.sub(r"[^\w.-]+", "_", model_name).strip("._")[:60] or "trace"
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = pathlib.Path.cwd() if directory is None else pathlib.Path(directory)
    path = folder / f"gradviz-{model}-{stamp}.html"
    n = 2
    while path.exists():
        path = folder / f"gradviz-{model}-{stamp}-{n}.html"
        n += 1
    return path


def write_html(
    path: str | os.PathLike[str],
    graph: dict,
    edge_norms: bytes,
    hists: bytes,
    title: str,
    scale: float = 0.0,
) -> pathlib.Path:
    """Write the widget as one standalone HTML page and return its path. ``scale``: the display scale it
    opens at (1 to 2; 0: the size that browser last chose).

    >>> write_html("trace.html", graph, edge_norms, hists, "MyNet")  # doctest: +SKIP
    PosixPath('trace.html')
    """
    return write_page(
        path,
        {"graph": graph, "selected": "", "scale": check_scale(scale)},
        {"edge_norms": edge_norms, "hists": hists},
        title,
    )


def write_page(
    path: str | os.PathLike[str],
    values: dict[str, object],
    buffers: dict[str, bytes],
    title: str,
) -> pathlib.Path:
    """Write a standalone page whose in-page model holds ``values`` (JSON traits) and ``buffers``
    (bytes traits, handed to the bundle as DataViews, as anywidget does); return its path."""
    state = {
        "values": values,
        "bytes": {key: base64.b64encode(bytes(value)).decode("ascii") for key, value in buffers.items()},
    }
    page = _PAGE.format(
        title=html.escape(title),
        state=_script_safe_json(state),
        bundle=_packed(bundle_path().read_bytes()),
    )
    out = pathlib.Path(path)
    out.write_text(page, encoding="utf-8")
    return out
